"""`depthnet_nano bench-node --fuzz / --soak` against real depth_node processes (short runs)."""

from __future__ import annotations

import io
import json
import subprocess

import numpy as np
from PIL import Image as PILImage
from ros_helpers import VENV, ros_env

from depthnet_nano_ros.ros.fuzz_cases import BAD_INFOS, make_cases, png_bomb


def test_png_bomb_is_small_and_declares_its_size():
    data = png_bomb(8000, 8000)
    assert len(data) < 250_000
    with PILImage.open(io.BytesIO(data)) as img:
        assert img.size == (8000, 8000) and img.mode == "RGB"
    small = PILImage.open(io.BytesIO(png_bomb(40, 30)))
    assert (np.asarray(small) == 0).all() and small.size == (40, 30)  # a real, decodable PNG


def test_cases_cover_every_family_deterministically():
    a = [c.label for c in make_cases(32, seed=5, bomb=b"x")]
    assert a == [c.label for c in make_cases(32, seed=5, bomb=b"x")]
    kinds = {c.kind for c in make_cases(32, bomb=b"x")}
    assert kinds == {"image", "compressed", "camera_info"}
    assert [o for _, o in BAD_INFOS if "size" in o] == [{"size": (480, 640)}]  # not mutated


def test_fuzz_and_soak_find_no_fault(tmp_path):
    out = tmp_path / "hostile.json"
    cmd = [str(VENV / "bin" / "depthnet_nano"), "bench-node", "--fuzz", "16", "--soak", "3",
           "--rate", "10", "--backend", "torch", "--input-size", "96", "320", "--threads", "1",
           "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ros_env(), timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    fuzz = res["fuzz"]
    assert fuzz["cases"] == 16
    for k in ("crashes", "hangs", "wrong_outputs", "internal_errors", "misclassified"):
        assert fuzz[k] == 0, (k, fuzz["problems"])
    raw, cmp = fuzz["counters"]["/fuzz_raw"], fuzz["counters"]["/fuzz_cmp"]
    assert int(raw["bad_input"]) >= 7 and int(raw["bad_camera_info"]) >= 1
    assert int(cmp["bad_input"]) >= 5 and int(cmp["processed"]) >= 1  # incl. the png bomb
    assert fuzz["peak_rss_mb"]["/fuzz_cmp"] < 800  # ~400 idle; the bomb decoded: 2 GB
    assert set(fuzz["exit_codes"].values()) == {0}
    soak = res["soak"]
    assert soak["windows"] and soak["sent"] >= 25 and soak["received"] >= 1
    assert not soak["crashed"] and "p99_ms" in proc.stdout and "fuzz:" in proc.stdout
