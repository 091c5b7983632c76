"""Real processes, real SIGKILLs at Poisson times: adaptive interval vs fixed vs none.

A pi run of about ``--work`` seconds of compute is started, SIGKILLed at exponentially
distributed times (mean ``--mtbf``, scaled down to tens of seconds) and restarted until it
completes, under four policies:

- ``adaptive``: blockloop's default (Daly's interval from the measured write cost);
- ``fixed/10`` and ``fixed*10``: fixed intervals 10x shorter and 10x longer than Daly's;
- ``none``: no checkpoint before the end.

Every policy meets the same failure times (common random numbers), so differences come
from the policies. For each it prints the wall time, the waste fraction (wall / solve - 1),
Daly's model's prediction for the same interval, write cost and restart cost, and the
result's bits (all must be identical).

    python benchmarks/failures.py                   # work 60 s, MTBF 30 s
    python benchmarks/failures.py --work 30 --mtbf 20 --trials 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import daly_interval
from blockloop.simulate import expected_wall_time

ROOT = Path(__file__).resolve().parent.parent


def _start(n: int, root: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, BLOCKLOOP_PROGRESS="0", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "kernels.pi", "--json", "--n", str(n), "--checkpoint-dir"]
    return subprocess.Popen(
        [*cmd, str(root), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"pi failed (exit {proc.returncode}): {err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def calibrate(work: float, root: Path) -> tuple[int, float, float, float]:
    """``n`` for ``work`` seconds of compute; solve time, write cost and restart cost."""
    n0 = 2 * 10**9
    data = _result(_start(n0, root / "cal0"))
    rate = n0 / data["report"]["compute_time"]
    n = int(rate * work)
    t0 = time.perf_counter()
    data = _result(_start(n, root / "cal1", "--interval", "0.5"))  # many writes: a mean cost
    wall = time.perf_counter() - t0
    solve = data["report"]["compute_time"]
    # restart cost: everything but compute in a fresh process (start-up, loading the
    # cached kernel, reading the checkpoint)
    t0 = time.perf_counter()
    again = _result(_start(n, root / "cal1"))  # complete already: start-up and load only
    restart = time.perf_counter() - t0
    assert again["report"]["already_complete"]
    cost = data["report"]["write_cost"] or 0.002
    return n, solve, cost, max(restart, wall - solve - cost)


def run_with_failures(n: int, root: Path, failures: np.ndarray, extra: tuple) -> tuple:
    """Run to completion, killing at the absolute times in ``failures``; (wall, kills, data)."""
    t0 = time.perf_counter()
    kills = 0
    upcoming = iter(failures)
    next_failure = next(upcoming)
    while True:
        proc = _start(n, root, *extra)
        timeout = next_failure - (time.perf_counter() - t0)
        try:
            proc.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            kills += 1
            next_failure = next(upcoming)
            continue
        return time.perf_counter() - t0, kills, _result(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=float, default=60.0, help="seconds of compute")
    parser.add_argument("--mtbf", type=float, default=30.0, help="mean time between kills")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blockloop-failures-") as tmp:
        root = Path(tmp)
        n, solve, cost, restart = calibrate(args.work, root)
        tau = daly_interval(cost, args.mtbf)
        print(
            f"pi n={n:.3g}: solve {solve:.1f} s, write cost {cost * 1e3:.2f} ms, restart "
            f"{restart:.2f} s, MTBF {args.mtbf:g} s -> Daly interval {tau:.2f} s"
        )
        policies = {
            "adaptive": (tau, ("--mtbf", f"{args.mtbf}s")),
            "fixed/10": (tau / 10, ("--interval", f"{tau / 10}")),
            "fixed*10": (tau * 10, ("--interval", f"{tau * 10}")),
            "none": (1e9, ("--interval", "1e9")),
        }
        rng = np.random.default_rng(args.seed)
        walls: dict[str, list[float]] = {k: [] for k in policies}
        bits = set()
        for trial in range(args.trials):
            failures = np.cumsum(rng.exponential(args.mtbf, 10_000))
            for name, (_, extra) in policies.items():
                wall, kills, data = run_with_failures(n, root / f"{name}-{trial}", failures, extra)
                walls[name].append(wall)
                bits.add(data["hash"])
                print(
                    f"  trial {trial} {name:<9} wall {wall:7.1f} s, {kills} kills, "
                    f"{data['report']['checkpoints']} checkpoints in the last run, "
                    f"result {data['repr']}"
                )
        print(f"{'policy':<10} {'interval':>9} {'wall':>8} {'waste':>8} {'model':>8}")
        for name, (interval, _) in policies.items():
            tau_eff = min(interval, solve)
            model = expected_wall_time(solve, tau_eff, cost, args.mtbf, restart)
            wall = statistics.mean(walls[name])
            print(
                f"{name:<10} {tau_eff:8.2f}s {wall:7.1f}s {wall / solve - 1:8.1%} "
                f"{model / solve - 1:8.1%}"
            )
        print(f"result bits identical across all runs: {len(bits) == 1} ({bits.pop()})")


if __name__ == "__main__":
    main()
