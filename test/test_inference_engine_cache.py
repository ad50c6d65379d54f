"""Artifact cache keys: stale or foreign engines/exports are detected, deleted, never loaded."""

from __future__ import annotations

import json

import pytest
import torch
from inference_helpers import random_checkpoint

from depthnet_nano_ros.inference import InferenceError
from depthnet_nano_ros.inference.export.engine_cache import (
    ArtifactKey,
    cache_path,
    key_mismatches,
    lookup,
    model_hash,
    read_sidecar,
    require_match,
    sidecar_path,
    write_artifact,
)
from depthnet_nano_ros.model import load_checkpoint

KEY = ArtifactKey("tensorrt", "ab" * 32, (384, 1280), "fp16", "tensorrt-10.3.0",
                  "Orin (nvgpu)", "8.7")


def _variant(**changes) -> ArtifactKey:
    return ArtifactKey(**{**KEY.to_dict(), "input_size": KEY.input_size, **changes})


def test_key_digest_changes_with_every_field():
    variants = [_variant(kind="onnx"), _variant(model_hash="cd" * 32),
                _variant(input_size=(352, 1216)), _variant(precision="int8"),
                _variant(runtime="tensorrt-8.6.2"), _variant(device="Xavier"),
                _variant(compute_capability="7.2")]
    digests = {KEY.digest(), *(v.digest() for v in variants)}
    assert len(digests) == len(variants) + 1
    assert KEY.digest() == _variant().digest()  # stable


def test_cache_hit_then_foreign_engine_is_rejected_and_deleted(tmp_path):
    path = write_artifact(cache_path(KEY, ".engine", tmp_path), b"engine-bytes", KEY)
    assert lookup(KEY, ".engine", tmp_path) == path
    for field, value in (("runtime", "tensorrt-8.6.2"), ("device", "NVIDIA A100"),
                         ("compute_capability", "8.0"), ("model_hash", "00" * 32)):
        write_artifact(path, b"engine-bytes", KEY)
        meta = read_sidecar(path)
        sidecar_path(path).write_text(json.dumps({**meta, field: value}))
        assert lookup(KEY, ".engine", tmp_path) is None, field
        assert not path.exists() and not sidecar_path(path).exists()


def test_engine_without_sidecar_is_never_loaded(tmp_path):
    path = write_artifact(cache_path(KEY, ".engine", tmp_path), b"x", KEY)
    sidecar_path(path).unlink()
    assert lookup(KEY, ".engine", tmp_path) is None and not path.exists()
    path = write_artifact(cache_path(KEY, ".engine", tmp_path), b"x", KEY)
    sidecar_path(path).write_text("{not json")
    assert lookup(KEY, ".engine", tmp_path) is None


def test_user_supplied_foreign_engine_raises_with_the_difference(tmp_path):
    path = write_artifact(tmp_path / "model.engine", b"x", _variant(device="Xavier",
                                                                    compute_capability="7.2"))
    with pytest.raises(InferenceError, match="device is 'Xavier', expected 'Orin") as exc:
        require_match(path, read_sidecar(path), KEY)
    assert "rebuild" in str(exc.value)
    require_match(path, read_sidecar(path), _variant(device="Xavier", compute_capability="7.2"))
    assert key_mismatches(None, KEY) == ["no readable metadata sidecar"]


def test_model_hash_follows_the_weights_not_the_file():
    a, _ = load_checkpoint(random_checkpoint())
    b, _ = load_checkpoint(random_checkpoint())
    assert model_hash(a) == model_hash(b)
    with torch.no_grad():
        b.decoder.head.bias.add_(1e-3)
    assert model_hash(a) != model_hash(b)
