"""Training configuration: a YAML file plus `key=value` overrides -> :class:`TrainConfig`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from depthnet_nano_ros.model.transforms import check_input_size
from depthnet_nano_ros.training.errors import TrainingError

__all__ = ["TrainConfig", "apply_overrides", "load_config"]


@dataclass
class TrainConfig:
    """Every training choice; defaults are the paper's recipe (§4.1, DenseDepth's loss)."""

    train: list[dict[str, Any]] = field(default_factory=list)  # data sources (datasets.py)
    val: list[dict[str, Any]] = field(default_factory=list)
    out_dir: str = "runs/train"
    input_size: tuple[int, int] = (384, 1280)
    batch_size: int = 4
    epochs: int = 20
    max_steps: int = 0  # 0 = no limit; stop after this many optimizer steps
    max_minutes: float = 0.0  # 0 = no limit; stop (with a checkpoint) after this wall time
    lr: float = 5e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine (to lr * lr_min_ratio at the last step)
    lr_min_ratio: float = 0.1
    warmup_steps: int = 0
    grad_clip: float = 0.0  # max gradient norm, 0 = off
    loss: dict[str, float] = field(default_factory=lambda: {"ssim": 1.0, "grad": 1.0, "l1": 0.1})
    augment: dict[str, float] | bool = True  # True = defaults, False = off, dict = AugmentConfig
    focal_normalize: bool = True  # targets d * f_ref / f_net; f_ref (KITTI's) stored as focal_px
    model: dict[str, Any] = field(default_factory=dict)  # DepthNetNanoConfig overrides
    init_checkpoint: str | None = None  # start from these weights (fine-tuning)
    self_supervised: dict[str, Any] = field(default_factory=dict)  # camera_height (m): scale
    resume: bool = True  # continue from out_dir/last.pt when it exists
    seed: int = 0
    num_workers: int = 0
    cache_in_memory: bool = True
    cache_dir: str | None = None  # densified-target cache; default <out_dir>/cache
    val_every_epochs: int = 1
    ckpt_every_steps: int = 0  # extra last.pt saves between epochs, 0 = only per epoch
    log_every_steps: int = 10
    image_every_steps: int = 200  # TensorBoard image samples, 0 = off
    best_metric: str = "abs_rel"  # validation metric that picks best.pt (lower is better
    # except a1/a2/a3)
    amp: str = "auto"  # auto (mixed precision on CUDA) | on | off
    progress: bool = True  # tqdm bar on rank 0
    config_path: str | None = None  # set by load_config; relative data paths resolve from here

    def __post_init__(self) -> None:
        try:
            self.input_size = check_input_size(tuple(self.input_size))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise TrainingError(f"config input_size {self.input_size!r}: {exc}") from exc
        self.betas = tuple(float(b) for b in self.betas)  # type: ignore[assignment]
        if self.batch_size < 1 or self.epochs < 1:
            raise TrainingError(f"batch_size ({self.batch_size}) and epochs ({self.epochs}) "
                                "must be >= 1")
        if self.lr_schedule not in ("constant", "cosine"):
            raise TrainingError(f"lr_schedule {self.lr_schedule!r}: use constant or cosine")
        if self.amp not in ("auto", "on", "off"):
            raise TrainingError(f"amp {self.amp!r}: use auto, on or off")

    @property
    def base_dir(self) -> Path | None:
        """Folder that relative data paths in the config are relative to."""
        return Path(self.config_path).resolve().parent if self.config_path else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored in checkpoints)."""
        d = asdict(self)
        d["input_size"], d["betas"] = list(self.input_size), list(self.betas)
        return d


def _parse_value(text: str) -> Any:
    """YAML scalar/list parsing for overrides: '1e-4' -> 0.0001, '[96, 320]' -> list."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key=value` / `a.b=value` / `train.0.root=value` overrides (values parsed as YAML)."""
    data = dict(data)
    names = {f.name for f in fields(TrainConfig)}
    for item in overrides:
        if "=" not in item:
            raise TrainingError(f"override {item!r} is not key=value (e.g. lr=1e-4)")
        key, text = item.split("=", 1)
        path = key.strip().split(".")
        if path[0] not in names:
            raise TrainingError(f"override {key!r}: unknown setting {path[0]!r}; known: "
                                f"{sorted(names)}")
        node: Any = data
        for part, nxt_part in zip(path[:-1], path[1:], strict=True):
            child = _child(node, part, key)
            if child is None:
                child = [] if nxt_part.isdigit() else {}
            child = list(child) if isinstance(child, list) else dict(child)
            _set(node, part, child, key)
            node = child
        _set(node, path[-1], _parse_value(text), key)
    return data


def _child(node: Any, part: str, key: str) -> Any:
    """node[part] for dicts and (with a numeric part) lists; None when absent."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise TrainingError(f"override {key!r}: {part!r} is not an index of a list of "
                                f"{len(node)} (e.g. train.0.root=...)")
        return node[int(part)]
    return node.get(part)


def _set(node: Any, part: str, value: Any, key: str) -> None:
    """node[part] = value for dicts and lists."""
    if isinstance(node, list):
        _child(node, part, key)
        node[int(part)] = value
    else:
        node[part] = value


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or only overrides when `path` is None) into a TrainConfig."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise TrainingError(f"training config {path} does not exist (see config/train_*.yaml)")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TrainingError(f"training config {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise TrainingError(f"training config {path} must be a mapping of settings")
        data["config_path"] = str(path)
    data = apply_overrides(data, overrides or [])
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise TrainingError(f"training config has unknown settings {unknown}; known: "
                            f"{sorted(names)}")
    return TrainConfig(**data)
