"""``blockloop selftest``: kill a kernel at random moments and mid-commit, resume, compare bits.

The kernel runs in child processes (``python -m blockloop.tools.selftest --child ...``), each
killed with a real SIGKILL: at a random moment after its first checkpoint, or stopped
(SIGSTOP, from the store's fault hook) at an exact step of a commit and killed there.
The last child runs to the end; its result and the argument arrays it updated must have
the same bits as an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from ..storage.faults import STEPS
from ..storage.fingerprint import array_hash

__all__ = [
    "COMMIT_STEPS",
    "describe",
    "finish",
    "interrupt_cycles",
    "kill_stopped",
    "resolve",
    "selftest",
    "wait_stopped",
]

COMMIT_STEPS = STEPS  # every step of a commit where a fault can be injected


def describe(result: object) -> dict:
    """A result's exact identity: repr, and for arrays a hash of the bytes."""
    if isinstance(result, tuple):
        parts = [describe(r) for r in result]
        return {
            "repr": "(" + ", ".join(p["repr"] for p in parts) + ")",
            "hash": "+".join(p["hash"] for p in parts),
        }
    if isinstance(result, np.ndarray):
        numbers = result.dtype.kind in "biufc"  # not records, strings or objects
        total = f", sum={result.sum()!r}" if numbers else ""
        return {
            "repr": f"array(dtype={result.dtype}, shape={result.shape}{total})",
            "hash": array_hash(result),
        }
    if isinstance(result, (float, np.floating)):
        return {"repr": repr(result), "hash": float(result).hex()}
    return {"repr": repr(result), "hash": repr(result)}


def finish(proc: subprocess.Popen, timeout: float | None = None) -> tuple[int, dict | None, str]:
    """Wait for a child; return its exit code, its last JSON line (if any) and stderr.

    By default it waits as long as the child runs: on a busy machine a run takes longer,
    and a fixed limit would fail a correct run there (Ctrl-C stops the wait)."""
    out, err = proc.communicate(timeout=timeout)
    data = None
    for line in out.splitlines():
        if line.startswith("{"):
            data = json.loads(line)
    return proc.returncode, data, err


def wait_stopped(proc: subprocess.Popen) -> bool:
    """Block until ``proc`` stops (SIGSTOP) or exits; True if it stopped."""
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        return True
    proc.returncode = os.waitstatus_to_exitcode(status)  # hand the exit back to Popen
    return False


def kill_stopped(proc: subprocess.Popen) -> None:
    """SIGKILL a (stopped or running) child and reap it."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def interrupt_cycles(
    start: Callable[..., subprocess.Popen], kills: int, seed: int, window: float = 0.2
) -> tuple[dict, dict]:
    """Kill ``kills`` runs started by ``start(**env)``, then let one finish.

    Each cycle lets the child reach its first checkpoint (so it is past start-up and makes
    bounded progress per cycle, whatever the machine's speed); every third cycle stops it
    at a random commit step and SIGKILLs it there, the others SIGKILL it at a random moment
    in the next ``window`` seconds. Returns the final child's JSON and the statistics.

    Raises
    ------
    RuntimeError
        If a child ends before it can be killed (the run is too short to test).
    """
    rng = random.Random(seed)
    stats: dict = {"random": 0, "mid_commit": 0, "steps": []}
    for k in range(kills):
        if k % 3 == 2:
            step = rng.choice(COMMIT_STEPS)
            proc = start(BLOCKLOOP_FAULT=f"stop:{step}@{rng.randint(1, 3)}")
            if not wait_stopped(proc):
                raise RuntimeError(f"the run ended before commit step {step}: {finish(proc)}")
            kill_stopped(proc)
            stats["mid_commit"] += 1
            stats["steps"].append(step)
        else:
            proc = start(BLOCKLOOP_FAULT="stop:dir-synced@1")
            if not wait_stopped(proc):
                raise RuntimeError(f"the run ended before its first checkpoint: {finish(proc)}")
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(timeout=rng.uniform(0.0, window))
            except subprocess.TimeoutExpired:
                kill_stopped(proc)
                stats["random"] += 1
                continue
            raise RuntimeError(f"the run finished before kill {k}: {finish(proc)}")
    code, data, err = finish(start())
    if code != 0 or data is None:
        raise RuntimeError(f"the final run failed (exit {code}): {err[-2000:]}")
    stats["resumed_at"] = data["report"]["resumed_from"]
    return data, stats


def resolve(spec: str) -> object:
    """The object named ``MODULE:NAME`` (``NAME`` may be dotted).

    Raises
    ------
    ValueError
        In one line, for a spec without ``:``, a module that cannot be found or an object
        the module does not have.
    """
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"expected MODULE:FUNCTION, e.g. kernels.pi:pi, not {spec!r}")
    try:
        obj: object = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # the module exists but imports something missing: its own traceback
        raise ValueError(
            f"no module named {exc.name!r} on the path (run from the directory that holds "
            "it, or install it); `blockloop demo` runs the example that ships with blockloop"
        ) from None
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module} has no {name!r}")
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------- child


def _literal(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _child(target: str, args_from: str | None, args: list[str]) -> int:
    kernel = resolve(target)
    values = [_literal(a) for a in args]
    inputs = tuple(resolve(args_from)(*values)) if args_from else tuple(values)  # type: ignore[operator]
    result = kernel(*inputs)  # type: ignore[operator]
    report = getattr(kernel, "last_report", None)
    out = describe(result)
    out["inputs"] = [describe(a)["hash"] for a in inputs if isinstance(a, np.ndarray)]
    out["report"] = report.as_dict() if report is not None else None
    print(json.dumps(out))
    return 0


def _start_child(
    target: str, args_from: str | None, args: Sequence[str], root: Path, **env: str
) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "blockloop.tools.selftest", "--child", target]
    if args_from:
        cmd += ["--args-from", args_from]
    environ = dict(os.environ, BLOCKLOOP_DIR=str(root), BLOCKLOOP_PROGRESS="0")
    environ["PYTHONPATH"] = os.pathsep.join([os.getcwd(), environ.get("PYTHONPATH", "")])
    environ.update(env)
    return subprocess.Popen(
        [*cmd, "--", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def selftest(
    target: str,
    args: Sequence[str],
    args_from: str | None = None,
    kills: int = 6,
    seed: int = 0,
    interval: float = 0.05,
    out: TextIO = sys.stdout,
) -> bool:
    """Run the self-test; print what happened; True when the bits match.

    Parameters
    ----------
    target : str
        ``module:function`` of a ``@checkpointed_loop`` kernel.
    args : sequence of str
        The kernel's arguments as Python literals, or the arguments of ``args_from``.
    args_from : str, optional
        ``module:function`` that turns ``args`` into the kernel's arguments (for arrays).
    kills, seed : int
        Interruptions, and the seed of their moments and commit steps.
    interval : float
        Checkpoint interval of the children (short, so that writes are frequent).
    """
    with tempfile.TemporaryDirectory(prefix="blockloop-selftest-") as tmp:
        env = {"BLOCKLOOP_INTERVAL": str(interval)}
        code, reference, err = finish(
            _start_child(target, args_from, args, Path(tmp) / "reference", **env)
        )
        if code != 0 or reference is None:
            print(f"selftest: the uninterrupted run failed (exit {code}):\n{err}", file=out)
            return False
        print(f"selftest: uninterrupted result {reference['repr']}", file=out)

        def start(**extra: str) -> subprocess.Popen:
            return _start_child(target, args_from, args, Path(tmp) / "killed", **env, **extra)

        try:
            final, stats = interrupt_cycles(start, kills, seed)
        except RuntimeError as exc:
            print(f"selftest: {exc}; give the kernel a longer run", file=out)
            return False
    same = final["hash"] == reference["hash"] and final["inputs"] == reference["inputs"]
    print(
        f"selftest: {kills} interruptions ({stats['random']} at random moments, "
        f"{stats['mid_commit']} mid-commit at {', '.join(stats['steps']) or '-'}); the last "
        f"run resumed at {final['report']['unit']} {stats['resumed_at']}",
        file=out,
    )
    verdict = "bit-identical" if same else "DIFFERENT"
    print(f"selftest: resumed result {final['repr']}: {verdict}", file=out)
    return same


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockloop.tools.selftest")
    parser.add_argument("--child", metavar="MODULE:FUNCTION", required=True)
    parser.add_argument("--args-from", metavar="MODULE:FUNCTION")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    return _child(ns.child, ns.args_from, ns.args)


if __name__ == "__main__":
    sys.exit(main())
