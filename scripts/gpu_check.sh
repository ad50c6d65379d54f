#!/usr/bin/env bash
# GPU latency check of DepthNet Nano and its peers (depthnet_nano_ros/inference/bench/gpu_check.py).
# Runs from a plain source checkout: the interpreter is $PYTHON, else the checkout's .venv, else
# python3 (it needs torch with CUDA and numpy; onnxruntime and onnx are optional: their cases
# record why they were skipped). Arguments go to the check, e.g. --output gpu_check.json.
# Exit codes: 0 done (JSON written), 3 no CUDA device, 4 a required module missing, 2 bad args.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! missing=$("$PYTHON" -c 'import importlib.util as u; print(" ".join(m for m in ("torch", "numpy") if u.find_spec(m) is None))') \
    || [[ -n "$missing" ]]; then
  echo "gpu_check: error: $PYTHON lacks ${missing:-a working interpreter}; install torch (with CUDA) and numpy" >&2
  exit 4
fi
exec "$PYTHON" -m depthnet_nano_ros.inference.bench.gpu_check "$@"
