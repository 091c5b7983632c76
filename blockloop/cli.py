"""The ``blockloop`` command (also ``python -m blockloop``): a thin layer over the library."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import config
from ._errors import CheckpointError
from .policy import daly_interval, expected_waste, young_interval
from .store import RunPaths, read_manifest

__all__ = ["main"]


def _interval(args: argparse.Namespace) -> int:
    cost = config.parse_duration(args.cost, "--cost")
    mtbf = config.parse_duration(args.mtbf, "--mtbf")
    young, daly = young_interval(cost, mtbf), daly_interval(cost, mtbf)
    out = {
        "cost": cost,
        "mtbf": mtbf,
        "young": young,
        "daly": daly,
        "waste_young": expected_waste(young, cost, mtbf),
        "waste_daly": expected_waste(daly, cost, mtbf),
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"write cost {cost:g} s, MTBF {mtbf:g} s")
        print(f"  Young: checkpoint every {young:.1f} s (expected waste {out['waste_young']:.2%})")
        print(f"  Daly:  checkpoint every {daly:.1f} s (expected waste {out['waste_daly']:.2%})")
    return 0


def _runs(root: Path) -> list[dict]:
    rows = []
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        paths = RunPaths(root, run_dir.name)
        gens = paths.generations()
        row = {
            "run": run_dir.name,
            "generations": len(gens),
            "state": "empty",
            "progress": None,
            "age_s": None,
        }
        for g in reversed(gens):
            try:
                m = read_manifest(paths.manifest(g))
            except CheckpointError:
                row["state"] = "corrupt"
                continue
            row["progress"] = m["next_tile"] / max(m["tiles_total"], 1)
            row["age_s"] = time.time() - m["written"]
            row["state"] = "complete" if m["complete"] else "interrupted"
            break
        rows.append(row)
    return rows


def _ls(args: argparse.Namespace) -> int:
    rows = _runs(Path(args.dir or config.checkpoint_root()))
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        progress = "-" if r["progress"] is None else f"{r['progress']:.1%}"
        age = "-" if r["age_s"] is None else f"{r['age_s']:.0f}s ago"
        print(f"{r['run']:<40} {r['state']:<12} {progress:>7} {r['generations']} gen  {age}")
    return 0


def _source(args: argparse.Namespace) -> int:
    module_name, _, attr = args.target.partition(":")
    if not attr:
        raise SystemExit("blockloop source: give MODULE:FUNCTION, e.g. kernels.pi:pi")
    kernel = getattr(importlib.import_module(module_name), attr)
    print(kernel.blocked_source)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = argparse.ArgumentParser(prog="blockloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("interval", help="Young and Daly intervals for a write cost and MTBF")
    p.add_argument("--cost", required=True, help="checkpoint write cost, e.g. 2s")
    p.add_argument("--mtbf", required=True, help="mean time between failures, e.g. 6h")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_interval)
    p = sub.add_parser("ls", help="runs under a checkpoint root")
    p.add_argument("dir", nargs="?", help="checkpoint root (default BLOCKLOOP_DIR or .blockloop)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_ls)
    p = sub.add_parser("source", help="print the generated blocked code of a kernel")
    p.add_argument("target", help="MODULE:FUNCTION, e.g. kernels.pi:pi")
    p.set_defaults(func=_source)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"blockloop {args.command}: {exc}", file=sys.stderr)
        return 2
