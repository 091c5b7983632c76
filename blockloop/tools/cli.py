"""The ``blockloop`` command (also ``python -m blockloop``): a thin layer over the library."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .. import config
from .._errors import CheckpointError
from ..runtime.handoff import read_handoff
from ..scheduling.policy import daly_interval, expected_waste, young_interval
from ..storage import background
from ..storage.store import RunPaths, verify_generation
from .runs import newest_manifest, phase_of, run_dirs, run_phases, run_row

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


def _root(args: argparse.Namespace) -> Path:
    return Path(args.dir or config.checkpoint_root())


def _ls(args: argparse.Namespace) -> int:
    rows = [run_row(p) for p in run_dirs(_root(args))]
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        where = "" if args.dir else " (the default root: give your checkpoint_dir as DIR)"
        print(f"no runs under {_root(args).resolve()}{where}")
    for r in rows:
        progress = "-" if r["progress"] is None else f"{r['progress']:.1%}"
        age = "-" if r["age_s"] is None else f"{_age(r['age_s'])} ago"
        print(f"{r['run']:<40} {r['state']:<12} {progress:>7} {r['generations']:>3} gen  {age}")
    return 0


def _when(stamp: float) -> str:
    """A timestamp as local time, or ``?`` when it is no time at all (a damaged manifest)."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
    except (OverflowError, OSError, ValueError):
        return "?"


def _count(n: int, word: str) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _resolve_run(text: str) -> RunPaths:
    path = Path(text)
    if not path.is_dir():
        path = Path(config.checkpoint_root()) / text
    if not path.is_dir():
        raise ValueError(f"no run directory {text!r} (give a path or a run name under the root)")
    return RunPaths(path.parent, path.name)


def _show(args: argparse.Namespace) -> int:
    paths = _resolve_run(args.run)
    manifest, bad = newest_manifest(paths)
    if manifest is None:
        print(f"blockloop show: {paths.run_dir} has no readable checkpoint", file=sys.stderr)
        return 1
    state = manifest.state
    done, total, unit = state.done, state.total, state.unit
    phase, phases = phase_of(manifest)
    info = {
        "run": str(paths.run_dir),
        "kernel": state.kernel,
        "phase": [phase, phases],
        "generation": manifest.generation,
        "state": run_row(paths, (manifest, bad))["state"],
        "progress": {"done": done, "total": total, "unit": unit},
        "reason": state.reason,
        "arrays": {k: [v.dtype, list(v.shape)] for k, v in manifest.arrays.items()},
        "pieces": {
            name: {
                "dtype": p.dtype,
                "shape": list(p.shape),
                "pieces": len(p.pieces),
                "generations": sorted({piece.generation for piece in p.pieces}),
            }
            for name, p in state.pieces.items()
        },
        "identity": manifest.identity.to_json(),
        "policy": state.policy.to_json() if state.policy else {},
        "compute_seconds": state.compute_seconds,
        "sessions": [s.to_json() for s in state.sessions],
        "unreadable_newer_manifests": bad,
    }
    if args.json:
        print(json.dumps(info))
        return 0
    pol = info["policy"]
    print(f"run         {info['run']}")
    print(f"kernel      {info['kernel']}  ({info['state']})")
    if phases > 1:
        print(f"phase       {phase} of {phases} (a kernel of several loops)")
    print(
        f"progress    {unit} {done} of {total} ({done / max(total, 1):.1%}), "
        f"generation {info['generation']} ({info['reason']})"
    )
    print(f"compute     {info['compute_seconds']:.1f} s so far")
    if pol:
        print(
            f"policy      write cost {pol['write_cost'] * 1e3:.2f} ms, interval "
            f"{pol['interval']:.3g} s, MTBF {pol['mtbf']:.0f} s"
        )
    for name, (dtype, shape) in info["arrays"].items():
        print(f"array       {name}: {dtype} {tuple(shape)}")
    for name, p in info["pieces"].items():
        print(
            f"saved       {name}: {p['dtype']} {tuple(p['shape'])} in {p['pieces']} pieces "
            f"held by generations {', '.join(map(str, p['generations'])) or '-'}"
        )
    ident = info["identity"]
    print("identity    " + ", ".join(f"{k}={ident[k]}" for k in sorted(ident)))
    for k, s in enumerate(info["sessions"], 1):
        start = _when(s["start"])
        print(
            f"session {k:<3} started {start}, ran {s['last'] - s['start']:.1f} s, ended: {s['end']}"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    runs = run_dirs(_root(args))
    bad = checked = handoffs = 0
    for run in runs:
        for paths in run_phases(run):
            checks: list[tuple[Path, Callable[[], object]]] = [
                (paths.manifest(g), functools.partial(verify_generation, paths, g))
                for g in paths.generations()
            ]
            handoff = paths.run_dir / "handoff.json"
            if handoff.exists():  # what a finished phase hands on (a kernel of several loops)
                checks.append((handoff, functools.partial(read_handoff, handoff)))
                handoffs += 1
            for path, check in checks:
                checked += 1
                try:
                    check()
                except CheckpointError as exc:
                    bad += 1
                    print(f"BAD  {path}: {exc}")
                else:
                    if not args.quiet:
                        print(f"ok   {path}")
    generations = checked - handoffs
    also = f" and {_count(handoffs, 'handoff')}" if handoffs else ""
    counted = f"{_count(generations, 'generation')}{also} in {_count(len(runs), 'run')}"
    print(f"{counted} checked, {bad} bad")
    return 1 if bad else 0


def _clean(args: argparse.Namespace) -> int:
    if not (args.complete or args.all or args.older_than):
        raise ValueError("say what to clean: --complete, --older-than AGE or --all")
    age = config.parse_duration(args.older_than, "--older-than") if args.older_than else None
    chosen = []
    for paths in run_dirs(_root(args), itself=False):  # never the root itself
        row = run_row(paths)
        if row["state"] == "running":
            continue
        if row["kernel"] is None:  # no manifest it can read: not provably a run
            print(f"skipped {paths.run_dir}: no readable blockloop manifest in it")
            continue
        if args.all or (args.complete and row["state"] == "complete"):
            chosen.append(paths)
        elif age is not None and row["age_s"] is not None and row["age_s"] > age:
            chosen.append(paths)
    for paths in chosen:
        if args.yes:
            shutil.rmtree(paths.run_dir)
            print(f"removed {paths.run_dir}")
        else:
            print(f"would remove {paths.run_dir}")
    if not args.yes and chosen:
        print("(dry run: add --yes to remove)")
    return 0


def _sbatch(args: argparse.Namespace) -> int:
    from ..scheduling.jobscript import slurm_script

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    text = slurm_script(
        command,
        args.time,
        array=args.array,
        job_name=args.job_name,
        output=args.output,
        chunk_seconds=config.parse_duration(args.chunk, "--chunk"),
        write_cost=config.parse_duration(args.write_cost, "--write-cost"),
        sbatch_options=args.sbatch_option,
    )
    if args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}; submit it with: sbatch {args.write}")
    else:
        print(text, end="")
    return 0


def _selftest(args: argparse.Namespace) -> int:
    from .selftest import resolve, selftest

    if args.target is None:
        raise ValueError(
            "give the kernel and its arguments, e.g. blockloop selftest "
            "blockloop.tools.demo:pi 200000000 (--help for the options)"
        )
    resolve(args.target)  # a wrong name is one line here, not a child's traceback

    ok = selftest(args.target, args.args, args.args_from, kills=args.kills, seed=args.seed)
    return 0 if ok else 1


def _source(args: argparse.Namespace) -> int:
    from .selftest import resolve

    kernel = resolve(args.target)
    if not hasattr(kernel, "blocked_source"):
        raise ValueError(f"{args.target} is not a @checkpointed_loop kernel")
    print(kernel.blocked_source)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import main as demo

    return demo(args.options)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    logging.basicConfig(format="%(message)s")  # a program: show blockloop's warnings
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:  # its options are the demo's own (argparse would take --help)
        return _demo(argparse.Namespace(options=argv[1:]))
    args = parser.parse_args(argv)
    background.wait()  # run from Python: the records this process still has to write
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"blockloop {args.command}: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    """The command line: one subcommand each for inspecting and cleaning runs."""
    parser = argparse.ArgumentParser(
        prog="blockloop",
        description="Inspect, verify and clean blockloop's checkpoints; Young/Daly intervals; "
        "Slurm job scripts; a kill-and-resume self-test.",
    )
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
    p = sub.add_parser("show", help="one run: progress, arrays, policy, sessions")
    p.add_argument("run", help="run directory, or a run name under the checkpoint root")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_show)
    p = sub.add_parser("verify", help="verify every checksum; exit 1 on corruption")
    p.add_argument("dir", nargs="?", help="checkpoint root or one run directory")
    p.add_argument("-q", "--quiet", action="store_true", help="print only bad generations")
    p.set_defaults(func=_verify)
    p = sub.add_parser("clean", help="remove run directories (dry run unless --yes)")
    p.add_argument("dir", nargs="?", help="checkpoint root (default BLOCKLOOP_DIR or .blockloop)")
    p.add_argument("--complete", action="store_true", help="runs that have finished")
    p.add_argument("--older-than", metavar="AGE", help="runs last written before AGE, e.g. 7d")
    p.add_argument("--all", action="store_true", help="every run that is not running")
    p.add_argument("--yes", action="store_true", help="really remove them")
    p.set_defaults(func=_clean)
    p = sub.add_parser(
        "demo",
        help="run the example that ships with blockloop (interrupt it, run it again)",
        add_help=False,
    )
    p.add_argument("options", nargs=argparse.REMAINDER, help="blockloop demo --help")
    p.set_defaults(func=_demo)
    p = sub.add_parser("source", help="print the generated blocked code of a kernel")
    p.add_argument("target", help="MODULE:FUNCTION, e.g. blockloop.tools.demo:pi")
    p.set_defaults(func=_source)
    _tool_commands(sub)
    return parser


def _tool_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The subcommands that make things: Slurm scripts, the self-test."""
    p = sub.add_parser(
        "sbatch", help="a Slurm batch script that requeues (or continues in an array) until done"
    )
    p.add_argument("--time", required=True, help="time limit of each job or task, e.g. 4:00:00")
    p.add_argument("--array", type=int, metavar="K", help="continue through --array=1-K%%1")
    p.add_argument("--job-name", default="blockloop")
    p.add_argument("--output", help="--output file (default blockloop-%%j.out)")
    p.add_argument("--chunk", default="0.2", help="expected chunk time (for the signal lead)")
    p.add_argument("--write-cost", default="1", help="expected checkpoint write time")
    p.add_argument(
        "--sbatch-option", action="append", default=[], metavar="OPT", help="more #SBATCH lines"
    )
    p.add_argument("-w", "--write", metavar="FILE", help="write the script to FILE")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- python script.py args")
    p.set_defaults(func=_sbatch)
    p = sub.add_parser(
        "selftest", help="kill a kernel at random moments and mid-commit; compare the bits"
    )
    p.add_argument("target", nargs="?", help="MODULE:FUNCTION of a @checkpointed_loop kernel")
    p.add_argument("args", nargs="*", help="arguments as Python literals")
    p.add_argument(
        "--args-from", metavar="MODULE:FUNCTION", help="build the arguments from ARGS (arrays)"
    )
    p.add_argument(
        "--kills", type=int, default=6, help="how many times to kill the kernel (default 6)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    p.epilog = "example: blockloop selftest blockloop.tools.demo:pi 200000000"
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(func=_selftest)
