"""Cache of built artifacts (ONNX exports, TensorRT engines) keyed by everything they depend on.

An artifact is valid only for the exact model weights, input size, precision, runtime version
and (for engines) the GPU it was built on. Each artifact has a JSON sidecar holding its key and
the sha256 of its bytes; a missing, unreadable or different sidecar means the artifact is stale
or foreign, a different hash that it is corrupt: it is never loaded, and cached ones are
deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from depthnet_nano_ros.fileio import atomic_write_bytes
from depthnet_nano_ros.inference.errors import InferenceError

#: Bump when the exported graph changes for the same weights (new export passes).
EXPORT_VERSION = 3
#: Key fields compared when deciding whether an artifact may be loaded.
KEY_FIELDS = ("kind", "model_hash", "input_size", "precision", "runtime", "device",
              "compute_capability")


def cache_dir() -> Path:
    """`$DEPTHNET_NANO_CACHE`, else `$XDG_CACHE_HOME/depthnet_nano_ros` (~/.cache default)."""
    env = os.environ.get("DEPTHNET_NANO_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "depthnet_nano_ros"


def model_hash(model: nn.Module) -> str:
    """sha256 of the model's config and weights (independent of checkpoint file metadata)."""
    h = hashlib.sha256()
    cfg = getattr(model, "cfg", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        h.update(json.dumps(cfg.to_dict(), sort_keys=True, default=str).encode())
    h.update(type(model).__name__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ArtifactKey:
    """Everything an artifact depends on; two artifacts are interchangeable iff keys are equal."""

    kind: str  # "onnx" | "tensorrt" | "ort-int8"
    model_hash: str
    input_size: tuple[int, int]
    precision: str
    runtime: str  # e.g. "tensorrt-10.3.0" or "torch-2.13.0-opset17-export3"
    device: str = ""  # GPU name for engines, "" for portable artifacts
    compute_capability: str = ""  # e.g. "8.7" (Jetson Orin)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (input_size as a list)."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d

    def digest(self) -> str:
        """Short stable hash of the key, used in file names."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def filename(self, suffix: str) -> str:
        """Cache file name: readable prefix plus the key digest."""
        h, w = self.input_size
        return f"{self.kind}_{self.precision}_{h}x{w}_{self.digest()}{suffix}"


def sidecar_path(artifact: Path) -> Path:
    """The JSON file beside `artifact` that holds its key."""
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: Path) -> dict[str, Any] | None:
    """The sidecar's content, or None when missing or unreadable."""
    try:
        data = json.loads(sidecar_path(artifact).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def key_mismatches(meta: dict[str, Any] | None, expected: ArtifactKey,
                   fields: tuple[str, ...] = KEY_FIELDS) -> list[str]:
    """Human-readable differences between an artifact's metadata and the key it must have."""
    if meta is None:
        return ["no readable metadata sidecar"]
    want = expected.to_dict()
    problems = []
    for f in fields:
        have = meta.get(f)
        if have != want[f]:
            problems.append(f"{f} is {have!r}, expected {want[f]!r}")
    return problems


def content_problem(path: Path, data: bytes, meta: dict[str, Any] | None,
                    require: bool = True) -> str | None:
    """Why `data` (the bytes of `path`) does not match its sidecar's sha256; None when it does.

    A sidecar without a hash (written before hashes existed) is a problem only with `require`.
    """
    want = (meta or {}).get("sha256")
    if not want:
        return (f"{path} has no content hash in its sidecar {sidecar_path(path).name}"
                if require else None)
    have = hashlib.sha256(data).hexdigest()
    if have != want:
        return (f"{path} is corrupt: its sha256 {have[:12]} differs from the {want[:12]} "
                f"recorded in {sidecar_path(path).name} when it was built")
    return None


def write_artifact(path: Path, data: bytes, key: ArtifactKey,
                   extra: dict[str, Any] | None = None) -> Path:
    """Atomically write an artifact and then its sidecar (so a sidecar implies a whole file)."""
    sidecar_path(path).unlink(missing_ok=True)
    atomic_write_bytes(path, data)
    meta = {**(extra or {}), **key.to_dict(), "sha256": hashlib.sha256(data).hexdigest()}
    atomic_write_bytes(sidecar_path(path), json.dumps(meta, indent=2).encode())
    return path


def lookup(key: ArtifactKey, suffix: str, root: Path | None = None) -> Path | None:
    """The cached artifact for `key`, or None; a stale, foreign or corrupt one is deleted."""
    path = (root or cache_dir()) / key.kind / key.filename(suffix)
    if not path.is_file():
        return None
    meta = read_sidecar(path)
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is None or key_mismatches(meta, key) or content_problem(path, data, meta):
        remove_artifact(path)
        return None
    return path


def cache_path(key: ArtifactKey, suffix: str, root: Path | None = None) -> Path:
    """Where the artifact for `key` is stored in the cache."""
    return (root or cache_dir()) / key.kind / key.filename(suffix)


def remove_artifact(path: Path) -> None:
    """Delete an artifact and its sidecar."""
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)


def require_match(path: Path, meta: dict[str, Any] | None, expected: ArtifactKey,
                  fields: tuple[str, ...] = KEY_FIELDS) -> None:
    """Raise InferenceError when a user-supplied artifact does not match this machine/model."""
    problems = key_mismatches(meta, expected, fields)
    if problems:
        raise InferenceError(
            f"{path} was built for a different setup ({'; '.join(problems)}): it is stale or "
            "foreign and will not be loaded; rebuild it here with `depthnet_nano export`"
        )
