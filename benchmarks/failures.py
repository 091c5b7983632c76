"""Real processes, real SIGKILLs at Poisson times: adaptive interval vs fixed vs none.

A pi run of about ``--work`` seconds of compute is started, SIGKILLed at exponentially
distributed times (mean ``--mtbf``, scaled down to tens of seconds) and restarted until it
completes, under four policies:

- ``adaptive``: blockloop's default (Daly's interval from the measured write cost);
- ``fixed/10`` and ``fixed*10``: fixed intervals 10x shorter and 10x longer than Daly's;
- ``none``: no checkpoint before the end.

Every policy meets the same failure times in a trial (common random numbers), so the
differences between policies come from the policies; ``--trials`` repeats with new failure
times. For each policy it prints the mean wall time, the waste fraction (wall / solve - 1),
Daly's model's prediction for the same interval (with the write and restart costs measured
here, plus the first start-up, which every policy pays) and the band in which the mean of
that many trials falls 95 % of the time in the simulator; then the adaptive policy against
the model's optimum, the paired differences between policies, and the result's bits (all
must be identical).

    python benchmarks/failures.py                   # work 60 s, MTBF 30 s, 3 trials
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
from blockloop.scheduling.simulate import expected_wall_time, simulate

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


def model_optimum(solve: float, cost: float, mtbf: float, restart: float) -> float:
    """The interval that minimises Daly's expected wall time, found on a fine grid."""
    grid = np.geomspace(cost / 10, solve, 4000)
    walls = [expected_wall_time(solve, t, cost, mtbf, restart) for t in grid]
    return float(grid[int(np.argmin(walls))])


def paired(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of ``a - b`` over trials and its standard error (nan with one trial)."""
    diff = np.subtract(a, b)
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return float(diff.mean()), se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=float, default=60.0, help="seconds of compute")
    parser.add_argument("--mtbf", type=float, default=30.0, help="mean time between kills")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blockloop-failures-") as tmp:
        root = Path(tmp)
        n, solve, cost, restart = calibrate(args.work, root)
        tau = daly_interval(cost, args.mtbf)
        best = model_optimum(solve, cost, args.mtbf, restart)
        # the first start-up is paid by every policy and is not in Daly's T_w
        optimum = restart + expected_wall_time(solve, best, cost, args.mtbf, restart)
        print(
            f"pi n={n:.3g}: solve {solve:.1f} s, write cost {cost * 1e3:.2f} ms, restart "
            f"{restart:.2f} s, MTBF {args.mtbf:g} s -> Daly interval {tau:.3f} s "
            f"(model optimum {best:.3f} s: {optimum:.1f} s wall)"
        )
        policies = {
            "adaptive": (tau, ("--mtbf", f"{args.mtbf}s")),
            "fixed/10": (tau / 10, ("--interval", f"{tau / 10}")),
            "fixed*10": (tau * 10, ("--interval", f"{tau * 10}")),
            "none": (solve, ("--interval", "1e9")),
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
                report = data["report"]
                print(
                    f"  trial {trial} {name:<9} wall {wall:7.1f} s, {kills} kills, last run: "
                    f"{report['checkpoints']} checkpoints in {report['compute_time']:.1f} s "
                    f"of compute, result {data['repr']}",
                    flush=True,
                )
        k = args.trials
        print(
            f"\n{'policy':<9} {'interval':>9} {'wall (mean of ' + str(k) + ')':>17} "
            f"{'waste':>7} {'model wall':>11} {'model 95% band':>17} {'model waste':>11}"
        )
        for name, (interval, _) in policies.items():
            model = restart + expected_wall_time(solve, interval, cost, args.mtbf, restart)
            sim = restart + simulate(solve, interval, cost, args.mtbf, restart, runs=20_000)
            half = 1.96 * sim.std() / np.sqrt(k)
            wall = statistics.mean(walls[name])
            print(
                f"{name:<9} {interval:8.3f}s {wall:16.1f}s {wall / solve - 1:7.1%} "
                f"{model:10.1f}s {sim.mean() - half:8.1f}-{sim.mean() + half:.1f}s "
                f"{model / solve - 1:11.1%}"
            )
        adaptive = statistics.mean(walls["adaptive"])
        print(
            f"\nadaptive wall / model optimum wall: {adaptive / optimum:.3f} (goal <= 1.10); "
            f"waste {adaptive / solve - 1:.1%} vs the model's optimum {optimum / solve - 1:.1%}"
        )
        for name in ("fixed/10", "fixed*10", "none"):
            mean, se = paired(walls[name], walls["adaptive"])
            print(
                f"{name} - adaptive: {mean:+.1f} s (standard error {se:.1f} s over {k} "
                f"paired trials, {mean / se if se > 0 else float('nan'):.1f} standard errors)"
            )
        print(f"result bits identical across all runs: {len(bits) == 1} ({bits.pop()})")


if __name__ == "__main__":
    main()
