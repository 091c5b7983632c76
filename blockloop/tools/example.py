"""The command line of an example kernel (``blockloop demo``, ``python -m kernels.NAME``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._errors import Interrupted

__all__ = ["main"]


def _count(text: str) -> int:
    value = float(text)
    if value != int(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def main(
    kernel: Any,
    make_args: Callable[..., tuple],
    default_n: int,
    argv: Sequence[str] | None = None,
    doc: str | None = None,
    size: int | None = None,
    prog: str | None = None,
) -> int:
    """Parse the common options, run ``kernel(*make_args(n))`` and print result and report.

    Kernels with a ``size`` (grid edge) get ``--size`` and ``make_args(n, size)``; for them
    ``--n`` counts steps. Returns the exit code: 0, 130 after Ctrl-C, the configured code
    (85) after a scheduler signal.
    """
    logging.basicConfig(format="%(message)s")  # the application shows blockloop's warnings
    args = _parser(kernel.__name__, default_n, doc, size, prog).parse_args(argv)
    _apply(args)
    inputs = make_args(args.n) if size is None else make_args(args.n, args.size)
    if args.stop_after is not None:
        timer = threading.Timer(args.stop_after, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
    if args.fresh and not args.plain:
        run_dir = kernel.run_dir(*inputs)
        if run_dir.is_dir():
            shutil.rmtree(run_dir)
            print(f"removed {run_dir}", file=sys.stderr)
    run = kernel.original if args.plain else kernel
    try:
        result = run(*inputs)
    except (KeyboardInterrupt, Interrupted) as exc:
        _say_interrupted(kernel.last_report)
        return int(exc.code) if isinstance(exc, Interrupted) else 130  # type: ignore[arg-type]
    report = None if args.plain else kernel.last_report
    if report is not None and report.rank != 0:
        return 0  # under MPI, rank 0 prints for the job
    _print_result(kernel.__name__, args, inputs, result, report)
    return 0


def _parser(
    name: str, default_n: int, doc: str | None, size: int | None, prog: str | None
) -> argparse.ArgumentParser:
    """The options every example kernel takes."""
    parser = argparse.ArgumentParser(
        prog=prog or f"python -m kernels.{name}",
        description=doc.replace("``", "") if doc else None,  # the docstring's, as text
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--n",
        type=_count,
        default=default_n,
        help=f"problem size (iterations); default {default_n:g}",
    )
    if size is not None:
        parser.add_argument(
            "--size", type=_count, default=size, help=f"grid edge length; default {size}"
        )
    parser.add_argument(
        "--checkpoint-dir", help="checkpoint root (default: BLOCKLOOP_DIR or ./.blockloop)"
    )
    parser.add_argument("--threads", type=int, help="numba threads (default: all cores)")
    parser.add_argument("--mtbf", help="mean time between failures, e.g. 6h (default 24h)")
    parser.add_argument("--interval", help="fixed checkpoint interval instead of Young/Daly")
    parser.add_argument(
        "--stop-after",
        type=float,
        metavar="SECONDS",
        help="demo: interrupt the run with SIGINT after SECONDS",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start again: remove this run's checkpoints first (by default a second "
        "identical command resumes, or returns a completed run's result at once)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="run the plain numba kernel (no blocking, no checkpoints)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress bar (default: when stderr is a terminal)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _apply(args: argparse.Namespace) -> None:
    """Set the environment and numba's threads as the options say."""
    for var, value in (
        ("BLOCKLOOP_DIR", args.checkpoint_dir),
        ("BLOCKLOOP_MTBF", args.mtbf),
        ("BLOCKLOOP_INTERVAL", args.interval),
    ):
        if value is not None:
            os.environ[var] = value
    if args.progress is not None:
        os.environ["BLOCKLOOP_PROGRESS"] = "1" if args.progress else "0"
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)


def _say_interrupted(report: Any) -> None:
    """What was saved, on stderr (rank 0 speaks for an MPI job)."""
    if report is not None and report.rank != 0:
        return
    if report is None or report.generation is None:
        print("interrupted before the first checkpoint: nothing saved", file=sys.stderr)
    else:
        print(
            f"interrupted: checkpoint {report.generation} saved in {report.run_dir}; run "
            "the same command again to resume",
            file=sys.stderr,
        )


def _print_result(
    name: str, args: argparse.Namespace, inputs: tuple, result: object, report: Any
) -> None:
    from .selftest import describe

    out = describe(result)
    if args.json:
        arrays = [describe(a)["hash"] for a in inputs if isinstance(a, np.ndarray)]
        print(json.dumps({**out, "inputs": arrays, "report": report.as_dict() if report else None}))
    else:
        print(f"{name}(n={args.n}) = {out['repr']}")
        if report is not None:
            print(report)
