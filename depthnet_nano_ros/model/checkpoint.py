"""Checkpoints: weights plus everything needed to rebuild and trust them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from depthnet_nano_ros.errors import DepthNetNanoError, brief
from depthnet_nano_ros.fileio import atomic_path
from depthnet_nano_ros.model.config import DepthNetNanoConfig
from depthnet_nano_ros.model.depthnet_nano import DepthNetNano
from depthnet_nano_ros.model.transforms import DEFAULT_INPUT_SIZE, check_input_size

FORMAT = "depthnet_nano_checkpoint"
VERSION = 1
#: The reference checkpoint shipped inside the package (see MODEL_CARD.md).
REFERENCE_CHECKPOINT = Path(__file__).resolve().parent.parent / "weights" / "depthnet_nano_ref.pt"


class CheckpointError(DepthNetNanoError):
    """A checkpoint is missing, corrupt, or does not match the model."""


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself besides its weights."""

    path: Path
    model_config: DepthNetNanoConfig
    input_size: tuple[int, int]
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    git_rev: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    #: sha256 of the stored weights (`state_sha256`), verified on load; "" for old checkpoints.
    weights_sha256: str = ""
    #: Focal length (px, at `input_size`) that the metric output refers to; None = unknown.
    focal_px: float | None = None


def default_checkpoint_path() -> Path:
    """The shipped reference checkpoint; raises CheckpointError if it is not installed."""
    if not REFERENCE_CHECKPOINT.is_file():
        raise CheckpointError(
            f"reference checkpoint {REFERENCE_CHECKPOINT} is missing: reinstall the package "
            "or pass --checkpoint PATH (train one with `depthnet_nano train`)"
        )
    return REFERENCE_CHECKPOINT


def state_sha256(state: dict[str, Any]) -> str:
    """sha256 of a state dict's names, dtypes, shapes and bytes (tensors, bytes, or repr)."""
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        h.update(name.encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, bytes | bytearray):
            h.update(bytes(value))
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _fix_for(path: Path) -> str:
    """How to get a good copy of checkpoint `path`."""
    if path.resolve() == REFERENCE_CHECKPOINT:
        return "reinstall depthnet_nano_ros to restore the shipped reference checkpoint"
    return "restore it from its source or re-train it with `depthnet_nano train`"


def save_checkpoint(path: str | Path, model: DepthNetNano, *, input_size: tuple[int, int],
                    half: bool = False, train_config: dict[str, Any] | None = None,
                    metrics: dict[str, Any] | None = None, git_rev: str | None = None,
                    extra: dict[str, Any] | None = None,
                    focal_px: float | None = None) -> Path:
    """Write a checkpoint atomically (temp file + rename); `half` stores fp16 weights.

    `focal_px` is the reference focal length (px, at `input_size`) of the training targets
    (see `model.focal`); None for a model whose metric scale is not tied to a known focal.
    The weights' `state_sha256` is stored and verified by `load_checkpoint`.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in model.state_dict().items()}
    payload = {"weights_sha256": state_sha256(state),
        "format": FORMAT, "version": VERSION, "model_config": model.cfg.to_dict(),
        "input_size": list(check_input_size(input_size)), "state_dict": state,
        "train_config": train_config or {}, "metrics": metrics or {}, "git_rev": git_rev,
        "extra": extra or {}, "focal_px": None if focal_px is None else float(focal_px),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _read_payload(path: Path) -> tuple[dict[str, Any], str]:
    """Load the raw checkpoint dict and its sha256, with errors that name the file."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: pass an existing .pt file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({brief(exc)})") from exc
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CheckpointError(f"checkpoint {path} is not a torch checkpoint (not a zip archive: "
                              f"truncated, corrupt or another format); {_fix_for(path)}")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(
            f"checkpoint {path} is corrupt ({brief(exc)}); {_fix_for(path)}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a depthnet_nano checkpoint (no format={FORMAT!r} field); "
            "create checkpoints with `depthnet_nano train`"
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, this package reads "
            f"version {VERSION}; upgrade depthnet_nano_ros"
        )
    return payload, hashlib.sha256(data).hexdigest()


def add_weights_hash(path: str | Path) -> Path:
    """Re-save a checkpoint written before `weights_sha256` existed, its weights untouched."""
    path = Path(path)
    payload, _ = _read_payload(path)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} has no readable state_dict; {_fix_for(path)}")
    if payload.get("weights_sha256") not in (None, state_sha256(state)):
        raise CheckpointError(f"checkpoint {path} is corrupt: its weights do not match the "
                              f"sha256 recorded when it was saved; {_fix_for(path)}")
    payload["weights_sha256"] = state_sha256(state)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path | None = None) -> tuple[DepthNetNano, CheckpointInfo]:
    """Rebuild the model (fp32, eval mode) from `path` (default: the reference checkpoint)."""
    path = Path(path) if path is not None else default_checkpoint_path()
    payload, sha = _read_payload(path)
    want = payload.get("weights_sha256")
    state_in = payload.get("state_dict")
    if not isinstance(state_in, dict) or not all(isinstance(v, torch.Tensor)
                                                 for v in state_in.values()):
        raise CheckpointError(f"checkpoint {path} has no readable state_dict; {_fix_for(path)}")
    if want is not None and state_sha256(state_in) != want:
        raise CheckpointError(
            f"checkpoint {path} is corrupt: its weights do not match the sha256 recorded when it "
            f"was saved; {_fix_for(path)}")
    try:
        cfg = DepthNetNanoConfig.from_dict(payload["model_config"])
        model = DepthNetNano(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config: {exc}") from exc
    state = {k: v.float() if v.is_floating_point() else v for k, v in state_in.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches; keep the first one, torch lists them all
        lines = [ln.strip() for ln in str(exc).splitlines() if "mismatch" in ln] or [str(exc)]
        raise CheckpointError(
            f"checkpoint {path}: its weights do not fit its model config ({lines[0]}; "
            f"{len(lines)} tensors differ); it is corrupt or from an incompatible version: "
            "re-train or re-export it"
        ) from exc
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not match its model config: missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]}; it was saved by an incompatible version"
        )
    model.eval()
    info = CheckpointInfo(
        path=path, model_config=cfg,
        input_size=tuple(payload.get("input_size", DEFAULT_INPUT_SIZE)),  # type: ignore[arg-type]
        train_config=payload.get("train_config") or {}, metrics=payload.get("metrics") or {},
        git_rev=payload.get("git_rev"), extra=payload.get("extra") or {}, sha256=sha,
        focal_px=payload.get("focal_px"), weights_sha256=str(want or ""),
    )
    return model, info
