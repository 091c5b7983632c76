"""Try blockloop on a directory of kernels it has never seen, as a new user would (issue 29).

Each kernel is a module ``kNN_name.py`` in DIR with one ``@njit(parallel=True)`` function
``kernel`` and ``make_inputs(size)`` (``"small"`` or ``"large"``: fresh, equal arguments at
each call). ``judgments.py`` in DIR or the folder above it holds the reading of each kernel
made before any trial: ``JUDGMENTS[name]["verdict"]`` is ``"free"`` (race-free), ``"race"``
or ``"random"`` (draws that depend on the thread).

For each kernel, in a child process of its own (two threads):

1. plain numba on the small inputs: the result's and every argument array's bits;
2. the same kernel under ``@checkpointed_loop``: refused (the message and line), crashed, or
   its bits, compared with plain numba's;
3. if accepted, a crash after its first checkpoint and a resume (an injected store that
   raises after one checkpoint, a clock that makes each chunk one second), compared again;
4. where blockloop's bits differ from plain numba's, both once more on one thread: where
   plain numba's own bits depend on the thread count (a float reduction numba folds in
   the threads' order) and blockloop's do not, and its resumed bits are its uninterrupted
   ones, the kernel counts as accepted with blockloop's own bits ("own-bits").

Then, for the first ``--killed`` accepted kernels, real SIGKILLs: the large inputs run in
child processes killed after their first checkpoint (at a random moment, or stopped in the
middle of a commit), then resumed in a new process, compared with plain numba's bits.

Printed: a line per kernel, and the figures (race-free accepted with plain numba's bits,
races and per-thread draws refused, wrong results, crashes, hangs, kills resumed).

    python benchmarks/trial.py DIR                   # every kernel, 7 of them killed
    python benchmarks/trial.py DIR --only k03,k17    # some kernels
    python benchmarks/trial.py DIR --json out.json   # also the results as JSON
    python benchmarks/trial.py DIR --from-json out.json  # its figures, judged again
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop.tools.selftest import describe, finish, interrupt_cycles

HANG_SECONDS = 900  # a child still running after this long is reported as a hang


def _bits(value: object) -> str:
    """The exact identity of a result or argument (a list's, element by element)."""
    if type(value).__module__.startswith("numba.typed") or isinstance(value, list):
        return "[" + ",".join(_bits(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ",".join(_bits(v) for v in value) + ")"
    if isinstance(value, np.ndarray):  # records too, which describe() cannot sum
        data = np.ascontiguousarray(value)
        return f"{data.dtype.str}{data.shape}:" + hashlib.sha256(data.view(np.uint8)).hexdigest()
    return describe(value)["hash"]


def _state(result: object, args: tuple) -> dict:
    return {"result": _bits(result), "args": [_bits(a) for a in args]}


def _refusal(exc: Exception) -> dict:
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:  # a BlockingError names the line
        where = f"{Path(exc.filename).name}:{exc.lineno}"
    return {"type": type(exc).__name__, "message": str(exc), "where": where}


def _raised_by_blockloop(exc: Exception) -> bool:
    """Whether blockloop raised ``exc`` on purpose (a refusal), not numba or the kernel."""
    if type(exc).__module__.startswith("blockloop"):  # BlockingError, CheckpointError
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    package = str(Path(__file__).resolve().parent.parent / "blockloop")
    return isinstance(exc, (TypeError, ValueError)) and frames[-1].filename.startswith(package)


def _child(directory: str, name: str, threads: int, plain_only: bool) -> dict:
    """Steps 1-3 (or 1 alone) for one kernel, in this process."""
    import numba

    from blockloop import checkpointed_loop
    from blockloop.testing import Crash, Ticks, crashing_store, injected

    numba.set_num_threads(threads)
    sys.path.insert(0, directory)
    module = importlib.import_module(name)
    args = module.make_inputs("small")
    try:
        out: dict = {"plain": _state(module.kernel(*args), args)}
    except Exception:  # not blockloop's to answer for (a missing BLAS, a typing error)
        return {"plain_failed": traceback.format_exc(limit=-3)}
    if plain_only:
        return out
    with tempfile.TemporaryDirectory(prefix="trial-") as tmp:
        try:
            blocked = checkpointed_loop(checkpoint_dir=Path(tmp) / "run", interval=1.0)(
                module.kernel
            )
            args = module.make_inputs("small")
            result = blocked(*args)
        except Exception as exc:  # a refusal, or a crash to report
            out["refused"] = _refusal(exc)
            if not _raised_by_blockloop(exc):
                out["crash"] = traceback.format_exc(limit=-6)
            return out
        out["blocked"] = _state(result, args)
        out["chunks"] = blocked.last_report.chunks if blocked.last_report else None
        crashed = checkpointed_loop(checkpoint_dir=Path(tmp) / "crash", interval=1.0)(module.kernel)
        with injected(crashed, clock=Ticks(1.0)):
            try:
                with injected(crashed, store=crashing_store(1)):
                    crashed(*module.make_inputs("small"))
                out["crash_resume"] = "ran in one chunk: not interrupted"
            except Crash:
                args = module.make_inputs("small")
                out["resumed"] = _state(crashed(*args), args)
                report = crashed.last_report
                out["resumed_from"] = report.resumed_from if report else None
    return out


def _run_child(directory: Path, name: str, threads: int = 2, plain_only: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", str(directory), name, str(threads)]
    env = dict(os.environ, BLOCKLOOP_PROGRESS="0", NUMBA_NUM_THREADS=str(max(threads, 2)))
    try:
        done = subprocess.run(
            cmd + (["--plain-only"] if plain_only else []),
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return {"hang": True}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"crash": done.stderr[-3000:] or f"exit {done.returncode}"}


def _killed(directory: Path, name: str, seed: int) -> dict:
    """Real SIGKILLs of the large inputs' run (selftest's cycles), against plain numba."""
    with tempfile.TemporaryDirectory(prefix="trial-kill-") as tmp:
        wrapper = Path(tmp) / f"trial_{name}.py"
        wrapper.write_text(
            f"from {name} import kernel, make_inputs\n"
            "from blockloop import checkpointed_loop\n"
            "blocked = checkpointed_loop(kernel)\n"
        )
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join([tmp, str(directory), str(Path(__file__).parent.parent)]),
            BLOCKLOOP_PROGRESS="0",
            BLOCKLOOP_INTERVAL="0.05",
        )

        def start(target: str, **extra: str) -> subprocess.Popen:
            cmd = [sys.executable, "-m", "blockloop.tools.selftest", "--child"]
            cmd += [f"trial_{name}:{target}", "--args-from", f"trial_{name}:make_inputs"]
            return subprocess.Popen(
                [*cmd, "--", "large"],
                env={**env, "BLOCKLOOP_DIR": str(Path(tmp) / "ckpt"), **extra},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        code, plain, err = finish(start("kernel"))
        if code != 0 or plain is None:
            return {"error": f"plain numba failed: {err[-2000:]}"}
        try:
            final, stats = interrupt_cycles(lambda **e: start("blocked", **e), 3, seed)
        except RuntimeError as exc:
            return {"error": str(exc)[-2000:]}
    same = final["hash"] == plain["hash"] and final["inputs"] == plain["inputs"]
    return {"same": same, "random": stats["random"], "mid_commit": stats["mid_commit"],
            "resumed_at": stats["resumed_at"]}  # fmt: skip


def _verdict(r: dict) -> str:
    if r.get("hang"):
        return "hang"
    if "plain_failed" in r:
        return "no-plain"
    if "crash" in r:
        return "crash"
    if "refused" in r:
        return "refused"
    same = r["blocked"] == r["plain"] and r.get("resumed", r["plain"]) == r["plain"]
    return "exact" if same else "different"


def _judgments(directory: Path) -> dict:
    judged = [p for p in (directory, directory.parent) if (p / "judgments.py").exists()]
    sys.path.insert(0, str(judged[0] if judged else directory))
    return importlib.import_module("judgments").JUDGMENTS if judged else {}


def trial(directory: Path, only: list[str], killed: int) -> dict:
    judgments = _judgments(directory)
    names = sorted(p.stem for p in directory.glob("k[0-9]*.py"))
    if only:
        names = [n for n in names if any(n.startswith(o) for o in only)]
    results: dict = {}
    for name in names:
        r = _run_child(directory, name)
        r["verdict"] = _verdict(r)
        r["judged"] = judgments.get(name, {}).get("verdict", "?")
        if r["verdict"] == "different":  # plain numba's own bits may vary with the threads
            one = r["one_thread"] = _run_child(directory, name, threads=1)
            r["plain_thread_dependent"] = one.get("plain") != r["plain"]
            steady = one.get("blocked") == r["blocked"] == r.get("resumed", r["blocked"])
            if r["plain_thread_dependent"] and steady:
                r["verdict"] = "own-bits"
        results[name] = r
        detail = r.get("refused", {}).get("message", "") or r.get("crash", "")[-300:]
        detail = detail or r.get("plain_failed", "")[-300:]
        print(f"{name:32} {r['judged']:6} {r['verdict']:9} {detail[:150]}", flush=True)
    kills = [n for n in names if results[n]["verdict"] == "exact"][:killed]  # against plain
    for k, name in enumerate(kills):
        results[name]["killed"] = _killed(directory, name, seed=k)
        print(f"{name:32} killed: {results[name]['killed']}", flush=True)
    return results


def summary(results: dict) -> str:
    free = [r for r in results.values() if r["judged"] == "free"]
    good = sum(r["verdict"] in ("exact", "own-bits") for r in free)
    unsafe = [r for r in results.values() if r["judged"] in ("race", "random")]
    count = lambda rs, v: sum(r["verdict"] == v for r in rs)  # noqa: E731
    killed = [r["killed"] for r in results.values() if "killed" in r]
    lines = [
        f"race-free kernels accepted: {good} of {len(free)} ({100 * good / max(len(free), 1):.1f} "
        f"%): {count(free, 'exact')} with plain numba's bits, {count(free, 'own-bits')} with "
        "bits of their own where plain numba's depend on the thread count",
        f"race-free kernels refused: {count(free, 'refused')}",
        f"races and per-thread draws refused: {count(unsafe, 'refused')} of {len(unsafe)}",
        f"accepted with bits other than plain numba's: {count(results.values(), 'different')}",
        f"crashes: {count(results.values(), 'crash')}, hangs: {count(results.values(), 'hang')}",
        f"killed and resumed to plain numba's bits: {sum(k.get('same', False) for k in killed)} "
        f"of {len(killed)}; of those, the last run started over instead of resuming: "
        f"{sum(k.get('same', False) and k.get('resumed_at') is None for k in killed)}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--only", default="", help="comma-separated kernel name prefixes")
    parser.add_argument("--killed", type=int, default=7, help="accepted kernels to SIGKILL")
    parser.add_argument("--json", type=Path, help="write every result here")
    parser.add_argument("--from-json", type=Path, help="only the figures of an earlier run's")
    args = parser.parse_args()
    if args.from_json:  # the judgments as they are now, the results as they were
        results = json.loads(args.from_json.read_text())
        judgments = _judgments(args.directory.resolve())
        for name, r in results.items():
            r["judged"] = judgments.get(name, {}).get("verdict", "?")
            print(f"{name:32} {r['judged']:6} {r['verdict']:9} {r.get('killed', '')}")
        print(summary(results))
        return
    results = trial(args.directory.resolve(), [o for o in args.only.split(",") if o], args.killed)
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, directory, name, threads, *rest = sys.argv
        np.seterr(all="ignore")
        print(json.dumps(_child(directory, name, int(threads), "--plain-only" in rest)))
    else:
        main()
