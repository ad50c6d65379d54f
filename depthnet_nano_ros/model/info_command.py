"""`depthnet_nano info`: parameters, MACs (from a real forward pass) and NetScore."""

from __future__ import annotations

import argparse
import json

from depthnet_nano_ros.errors import DepthNetNanoError
from depthnet_nano_ros.model.complexity import count_complexity, netscore
from depthnet_nano_ros.model.depthnet_nano import DepthNetNano
from depthnet_nano_ros.model.transforms import check_input_size

#: The paper's Table 1 delta1 for DepthNet Nano, used as NetScore's accuracy term by default.
PAPER_DELTA1 = 0.894


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `info`."""
    parser.add_argument("--height", type=int, default=384, help="input height (multiple of 32)")
    parser.add_argument("--width", type=int, default=1280, help="input width (multiple of 32)")
    parser.add_argument("--accuracy", type=float, default=PAPER_DELTA1,
                        help="accuracy term a for NetScore (default: paper delta1 0.894)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Count and print."""
    try:
        h, w = check_input_size((args.height, args.width))
    except ValueError as exc:
        raise DepthNetNanoError(f"{exc} (--height/--width)") from exc  # one line, exit 2
    c = count_complexity(DepthNetNano(), (1, 3, h, w))
    score = netscore(args.accuracy, c.params, c.macs)
    if args.json:
        print(json.dumps({
            "params": c.params, "macs": c.macs, "input_shape": list(c.input_shape),
            "output_shape": list(c.output_shape), "netscore": round(score, 3),
            "netscore_accuracy": args.accuracy, "breakdown": c.breakdown,
        }, indent=2))
        return 0
    print(f"DepthNet Nano @ {h}x{w}")
    print(f"{'block':<24}{'params':>12}{'MACs (G)':>12}")
    for name, entry in c.breakdown.items():
        print(f"{name:<24}{entry['params']:>12,}{entry['macs'] / 1e9:>12.3f}")
    print(f"{'total':<24}{c.params:>12,}{c.macs / 1e9:>12.3f}")
    print(f"params {c.params / 1e6:.3f} M (paper 1.75 M), MACs {c.macs / 1e9:.3f} G (paper 4.66 G "
          "at 384x1280)")
    print(f"output shape {c.output_shape}; NetScore {score:.2f} (a={args.accuracy}, "
          "kappa=0.7, beta=gamma=0.15)")
    return 0
