"""``python -m wardwatch.simulate``: generate a hospital capture (and optionally its ground truth)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from wardwatch.simulate.generator import SimConfig, scale_for_packets_per_device, simulate, truth_json


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, generate, print a one-line summary."""
    ap = argparse.ArgumentParser(prog="python -m wardwatch.simulate", description=__doc__)
    ap.add_argument("--devices", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=3600.0, help="capture length in seconds")
    ap.add_argument("--scale", type=float, default=None, help="multiplier for background/bulk traffic")
    ap.add_argument(
        "--packets-per-device", type=float, default=None, help="pick --scale for about K packets/device"
    )
    ap.add_argument("--no-background", action="store_true")
    ap.add_argument("-o", "--output", required=True, help="pcap file (.pcap or .pcap.gz)")
    ap.add_argument("--truth", default=None, help="write the ground-truth JSON here")
    args = ap.parse_args(argv)
    scale = args.scale
    if scale is None:
        if args.packets_per_device is not None:
            per_hour = args.packets_per_device * 3600.0 / max(args.duration, 1.0)
            scale = scale_for_packets_per_device(per_hour, not args.no_background)
        else:
            scale = 1.0
    cfg = SimConfig(
        devices=args.devices,
        seed=args.seed,
        duration_s=args.duration,
        background=not args.no_background,
        scale=scale,
    )
    t0 = time.perf_counter()
    result = simulate(cfg, args.output)
    dt = time.perf_counter() - t0
    if args.truth:
        Path(args.truth).write_text(json.dumps(truth_json(result), indent=2, sort_keys=False) + "\n")
    print(
        f"{result.path}: {len(result.devices)} devices, {result.packets} packets, {result.bytes} bytes "
        f"in {dt:.2f}s ({result.packets / max(dt, 1e-9):,.0f} packets/s, scale {scale:.3g})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
