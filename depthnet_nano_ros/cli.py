"""`depthnet_nano`: the project's one command-line tool, with subcommands.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from depthnet_nano_ros.errors import DepthNetNanoError

#: command -> (module, one-line help)
_PKG = "depthnet_nano_ros"
COMMANDS: dict[str, tuple[str, str]] = {
    "info": (f"{_PKG}.model.info_command", "parameters, MACs and NetScore of the network"),
    "export": (f"{_PKG}.inference.export.command", "export to ONNX / TensorRT / torch2trt"),
    "predict": (f"{_PKG}.inference.predict_command", "depth for image files (.npy + .png)"),
    "bench": (f"{_PKG}.inference.bench.command", "latency benchmark, optionally vs peers"),
    "bench-node": (f"{_PKG}.ros.bench_node", "end-to-end benchmark of the ROS 2 depth node"),
    "kitti2bag": (f"{_PKG}.kitti.kitti2bag_command", "KITTI raw/object -> rosbag2"),
    "synth-drive": (f"{_PKG}.kitti.synth_command", "synthetic KITTI-format drive"),
    "evaluate": (f"{_PKG}.ros.evaluate_command", "score depth against lidar"),
    "train": (f"{_PKG}.training.train_command", "train DepthNet Nano"),
}


def parse_hw(text: str) -> tuple[int, int]:
    """argparse type for a network input size written HxW (e.g. 384x1280)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW, e.g. 384x1280") from None
    return h, w


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; subcommand parsers are filled lazily in :func:`main`."""
    parser = argparse.ArgumentParser(
        prog="depthnet_nano", description="DepthNet Nano monocular depth: tools for ROS 2 users."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


#: Set to 1 to let unexpected exceptions through with their traceback (for bug reports).
DEBUG_ENV = "DEPTHNET_NANO_DEBUG"


def one_line(exc: BaseException, limit: int = 600) -> str:
    """An exception's message on one line (newlines folded), shortened to `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the chosen subcommand, turn errors into one line and exit code 2.

    Library errors and OS/value errors (a bad file, a full disk) are the user's to fix: one
    line, exit 2. Anything else is a bug: one line naming it, exit 1, and the traceback with
    DEPTHNET_NANO_DEBUG=1.
    """
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv or ["--help"])
        return 2
    name = argv[0]
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # e.g. bench-node without a ROS 2 environment
        if _debug():
            raise
        print(f"depthnet_nano {name}: error: cannot import {module_name} ({one_line(exc)}); "
              "install the missing package (ROS 2 commands need a sourced ROS 2 environment)",
              file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog=f"depthnet_nano {name}", description=help_text)
    module.add_arguments(parser)
    try:  # `train --config C lr=1e-4 --no-progress epochs=2`: overrides around the options
        args = parser.parse_intermixed_args(argv[1:])
    except TypeError:  # a parser that intermixed parsing cannot handle
        args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except DepthNetNanoError as exc:
        if _debug():
            raise
        print(f"depthnet_nano {name}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"depthnet_nano {name}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, EOFError, MemoryError) as exc:
        if _debug():
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        text = one_line(exc)
        text = text if not where or str(exc.filename) in text else text + where
        print(f"depthnet_nano {name}: error: {type(exc).__name__}: {text}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: keep it visible, but as one line unless debugging
        if _debug():
            raise
        print(f"depthnet_nano {name}: internal error: {type(exc).__name__}: {one_line(exc)} "
              f"(rerun with {DEBUG_ENV}=1 for the traceback and report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
