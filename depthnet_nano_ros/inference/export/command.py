"""`depthnet_nano export`: ONNX / TensorRT engine / torch2trt module from a checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from depthnet_nano_ros.inference.errors import InferenceError

SUFFIXES = {"onnx": ".onnx", "tensorrt": ".engine", "torch2trt": ".pth"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `export`."""
    parser.add_argument("--format", required=True, choices=("onnx", "tensorrt", "torch2trt"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    parser.add_argument("--checkpoint", help="checkpoint to export (default: the reference one)")
    parser.add_argument("--height", type=int, help="network input height (default: checkpoint's)")
    parser.add_argument("--width", type=int, help="network input width (default: checkpoint's)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--calib-images", help="int8: folder of real camera frames")
    src.add_argument("--calib-bag", help="int8: bag with an image topic")
    parser.add_argument("--calib-topic", default="/kitti/camera_color_left/image_raw",
                        help="int8: image topic in --calib-bag")
    parser.add_argument("--calib-frames", type=int, default=64, help="int8: frames to use")
    parser.add_argument("--workspace-mb", type=int, default=1024, help="TensorRT workspace limit")
    parser.add_argument("--output", required=True, help="file to write (.onnx, .engine, .pth)")


def _size(args: argparse.Namespace, default: tuple[int, int]) -> tuple[int, int]:
    """--height/--width (both or neither) or the checkpoint's input size."""
    from depthnet_nano_ros.model.transforms import check_input_size

    if (args.height is None) != (args.width is None):
        raise InferenceError("give both --height and --width, or neither")
    size = (args.height, args.width) if args.height is not None else default
    try:
        return check_input_size(size)
    except ValueError as exc:
        raise InferenceError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    """Export and print what was written."""
    from depthnet_nano_ros.fileio import atomic_write_bytes
    from depthnet_nano_ros.inference.availability import auto_backend, missing_requirements
    from depthnet_nano_ros.inference.export.engine_cache import model_hash
    from depthnet_nano_ros.inference.export.onnx import export_onnx_bytes
    from depthnet_nano_ros.model.checkpoint import load_checkpoint

    out = Path(args.output)
    if out.is_dir():
        raise InferenceError(f"--output {out} is a directory; name the file to write, e.g. "
                             f"{out / ('model' + SUFFIXES[args.format])}")
    model, info = load_checkpoint(args.checkpoint)
    size = _size(args, tuple(info.input_size))
    mhash = model_hash(model)
    meta = {"model_hash": mhash, "min_depth": info.model_config.min_depth,
            "max_depth": info.model_config.max_depth, "checkpoint_sha256": info.sha256,
            "focal_px": info.focal_px,
            "focal_width": int(info.input_size[1]) if info.focal_px is not None else None}
    if args.format != "onnx":
        missing = missing_requirements(args.format)
        if missing:
            raise InferenceError(f"--format {args.format} needs {', '.join(missing)}; on this "
                                 f"machine use --format onnx (backend 'auto' would use "
                                 f"{auto_backend()!r})")
    batches = None
    if args.precision == "int8":
        if args.format == "torch2trt":
            raise InferenceError("torch2trt int8 is not supported here; use --format tensorrt "
                                 "--precision int8 (entropy calibration)")
        from depthnet_nano_ros.inference.export.calibration import calibration_batches

        batches = calibration_batches(size, args.calib_images, args.calib_bag, args.calib_topic,
                                      args.calib_frames)
    if args.format == "torch2trt":
        from depthnet_nano_ros.inference.backends.torch2trt_backend import Torch2trtBackend

        Torch2trtBackend.from_model(model, size, precision=args.precision, metadata=meta).save(out)
    else:
        onnx_bytes = export_onnx_bytes(model, size, {**meta, "precision": "fp32"})
        if args.format == "tensorrt":
            from depthnet_nano_ros.inference.export.tensorrt import cached_engine

            cached_engine(onnx_bytes, mhash, size, args.precision, calib_batches=batches,
                          workspace_mb=args.workspace_mb, output=out,
                          metadata={k: v for k, v in meta.items() if v is not None})
        elif args.precision == "int8":
            from depthnet_nano_ros.inference.export.quantize import quantize_int8

            atomic_write_bytes(out, quantize_int8(onnx_bytes, batches or []))
        elif args.precision == "fp16":
            raise InferenceError("ONNX export is fp32 (TensorRT builds fp16 from it): use "
                                 "--format tensorrt --precision fp16, or --precision fp32")
        else:
            atomic_write_bytes(out, onnx_bytes)
    print(f"wrote {out} ({args.format}, {args.precision}, input {size[0]}x{size[1]}, "
          f"model {mhash[:12]})")
    return 0
