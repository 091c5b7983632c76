"""Real processes killed with real signals: the resumed result has the same bits."""

from __future__ import annotations

import json
import signal

import pytest

from blockloop.tools.selftest import COMMIT_STEPS, interrupt_cycles
from tests.conftest import finish, kill_stopped, start_kernel, wait_stopped

pytestmark = [pytest.mark.slow]

_REFERENCES: dict[tuple, tuple[str, list[str]]] = {}
KILLS = 6  # per run: every third in the middle of a commit, the others at random moments


def _reference(name: str, n: int, tmp_path_factory, *extra: str) -> tuple[str, list[str]]:
    """The uninterrupted result's bits (and the input arrays' after the call), once per
    session."""
    if (name, n, extra) not in _REFERENCES:
        root = tmp_path_factory.mktemp("reference")
        code, data, err = finish(
            start_kernel(name, "--n", str(n), "--checkpoint-dir", str(root), *extra)
        )
        assert code == 0, err
        assert data["report"]["resumed_from"] is None
        _REFERENCES[name, n, extra] = data["hash"], data["inputs"]
    return _REFERENCES[name, n, extra]


def _kill_loop(
    name: str, n: int, root, kills: int, seed: int, *extra: str
) -> tuple[tuple[str, list[str]], dict]:
    """Kill a run ``kills`` times (see :func:`blockloop.tools.selftest.interrupt_cycles`), then
    let it finish; checkpoints every 0.05 s make writes frequent."""
    args = ("--n", str(n), "--checkpoint-dir", str(root), "--interval", "0.05", *extra)
    data, stats = interrupt_cycles(lambda **env: start_kernel(name, *args, **env), kills, seed)
    return (data["hash"], data["inputs"]), stats


@pytest.mark.parametrize(
    ("name", "n"), [("pi", 35 * 10**8), ("tests.hashed_histogram", 35 * 10**7)]
)
def test_sigkill_at_random_moments_gives_the_same_bits(name, n, tmp_path, tmp_path_factory):
    expected = _reference(name, n, tmp_path_factory)
    got, stats = _kill_loop(name, n, tmp_path / "killed", kills=KILLS, seed=len(name))
    assert stats["random"] + stats["mid_commit"] == KILLS
    assert stats["mid_commit"] == KILLS // 3
    assert stats["resumed_at"] > 0
    assert got == expected, stats


@pytest.mark.parametrize(
    ("name", "n", "extra"),
    [
        ("fibonacci", 8 * 10**8, ()),
        ("heat2d", 40_000, ("--size", "512")),
        ("life", 6_000, ("--size", "512")),
    ],
)
def test_sequential_kernels_killed_resume_to_the_same_bits_and_arguments(
    name, n, extra, tmp_path, tmp_path_factory
):
    """Sequential loops: the result and the argument arrays updated in place both end as
    in an uninterrupted run; the state is written on the background thread, and some
    kills land in the middle of those writes."""
    expected = _reference(name, n, tmp_path_factory, *extra)
    got, stats = _kill_loop(name, n, tmp_path / "killed", KILLS, len(name), *extra)
    assert stats["random"] + stats["mid_commit"] == KILLS
    assert stats["mid_commit"] == KILLS // 3
    assert stats["resumed_at"] > 0
    assert got == expected, stats


@pytest.mark.parametrize(
    ("name", "n", "extra"),
    [
        ("jacobi", 200_000, ("--size", "352")),
        ("cg", 100_000, ("--size", "832")),
        ("kmeans", 1_000_000, ("--size", "16")),
    ],
)
def test_convergence_loops_killed_stop_at_the_same_step_with_the_same_bits(
    name, n, extra, tmp_path, tmp_path_factory
):
    """Convergence loops with reductions inside every step: killed six times, two of
    them in the middle of a commit, they stop at the step an uninterrupted run stops at
    (the iteration count is part of the result) with the same bits."""
    expected = _reference(name, n, tmp_path_factory, *extra)
    got, stats = _kill_loop(name, n, tmp_path / "killed", KILLS, len(name), *extra)
    assert stats["random"] + stats["mid_commit"] == KILLS and stats["mid_commit"] == KILLS // 3
    assert stats["resumed_at"] > 0
    assert got == expected, stats


def test_a_kill_in_each_phase_resumes_in_that_phase(tmp_path, tmp_path_factory):
    """A kernel of two loops, stopped at every checkpoint and killed at the first one in
    each phase that leaves the phase running: a kill in phase 2 leaves phase 1's files as
    they were (it is not computed again), and the result has an uninterrupted run's bits.
    Counted in checkpoints, not seconds: the same kills on a fast or a loaded machine."""
    n = 6 * 10**7
    expected = _reference("moments", n, tmp_path_factory)
    root = tmp_path / "killed"
    args = ("--n", str(n), "--checkpoint-dir", str(root), "--interval", "0.05")
    killed_in: list[int] = []
    proc = start_kernel("moments", *args, BLOCKLOOP_FAULT="stop:dir-synced@1+")
    while killed_in != [1, 2]:
        assert wait_stopped(proc), f"the run ended before a kill in each phase: {killed_in}"
        (run_dir,) = root.iterdir()
        running = [k for k, (_, complete) in _phase_progress(run_dir).items() if not complete]
        if running and running[0] == len(killed_in) + 1:
            kill_stopped(proc)
            killed_in.append(running[0])
            first_phase = sorted((run_dir / "phase-1").glob("ckpt-*"))
            proc = start_kernel("moments", *args, BLOCKLOOP_FAULT="stop:dir-synced@1+")
        else:
            proc.send_signal(signal.SIGCONT)  # not a checkpoint to kill at: on to the next
    kill_stopped(proc)
    code, data, err = finish(start_kernel("moments", *args))
    assert code == 0, err
    assert sorted((run_dir / "phase-1").glob("ckpt-*")) == first_phase
    assert data["report"]["phase"] == 2 and data["report"]["resumed_from"] > 0
    assert (data["hash"], data["inputs"]) == expected


def _phase_progress(run_dir) -> dict[int, tuple[int, bool]]:
    """Each phase's newest checkpoint: (tiles done, whether the phase is complete)."""
    out = {}
    for phase in sorted(run_dir.glob("phase-*")):
        newest = sorted(phase.glob("ckpt-*.json"))[-1]
        manifest = json.loads(newest.read_text())
        out[int(phase.name.split("-")[1])] = (manifest["next_tile"], manifest["complete"])
    return out


@pytest.mark.parametrize(("name", "n"), [("features", 4 * 10**6), ("scatter", 4 * 10**6)])
def test_map_and_whole_state_kernels_killed_resume_to_the_same_bits(
    name, n, tmp_path, tmp_path_factory
):
    """A map loop with 256 MiB of output (saved as segments of finished rows) and a loop
    that scatters into an argument (saved whole by changed blocks): killed six times,
    two of them in the middle of a commit, they end with an uninterrupted run's result
    and argument arrays."""
    expected = _reference(name, n, tmp_path_factory)
    got, stats = _kill_loop(name, n, tmp_path / "killed", KILLS, len(name))
    assert stats["random"] + stats["mid_commit"] == KILLS
    assert stats["mid_commit"] == KILLS // 3
    assert stats["resumed_at"] > 0
    assert got == expected, stats


@pytest.mark.parametrize("step", COMMIT_STEPS)
@pytest.mark.parametrize(("name", "n"), [("pi", 10**9), ("fibonacci", 3 * 10**8)])
def test_exit_at_each_commit_step_then_resume(name, n, step, tmp_path, tmp_path_factory):
    """``os._exit`` at every step of a commit (on the writer thread for the sequential
    kernel), at its second occurrence; the next run resumes and ends with the same bits."""
    expected = _reference(name, n, tmp_path_factory)
    args = ("--n", str(n), "--checkpoint-dir", str(tmp_path), "--interval", "0.05")
    code, _, err = finish(start_kernel(name, *args, BLOCKLOOP_FAULT=f"{step}@2"))
    assert code == 77, err  # the fault hook's exit code: it died at that step
    code, data, err = finish(start_kernel(name, *args))
    assert code == 0, err
    assert data["report"]["resumed_from"] > 0
    assert (data["hash"], data["inputs"]) == expected


def _stopped_after_first_checkpoint(name, n, root):
    proc = start_kernel(
        name,
        "--n",
        str(n),
        "--checkpoint-dir",
        str(root),
        "--interval",
        "0.05",
        BLOCKLOOP_FAULT="stop:dir-synced@1",
    )
    assert wait_stopped(proc), "the run ended before its first checkpoint"
    return proc


def test_sigterm_checkpoints_and_exits_85_then_resumes(tmp_path, tmp_path_factory):
    n = 6 * 10**9
    expected, _ = _reference("pi", n, tmp_path_factory)
    proc = _stopped_after_first_checkpoint("pi", n, tmp_path / "run")
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    code, _, err = finish(proc)
    assert code == 85, err
    assert "SIGTERM received" in err and "run again to continue" in err
    code, data, err = finish(
        start_kernel("pi", "--n", str(n), "--checkpoint-dir", str(tmp_path / "run"))
    )
    assert code == 0, err
    assert data["report"]["resumed_from"] > 0
    assert data["report"]["tiles"] == data["report"]["tiles_total"] - data["report"]["resumed_from"]
    assert data["hash"] == expected


def test_sigint_checkpoints_then_raises_keyboard_interrupt(tmp_path):
    n = 6 * 10**9
    proc = _stopped_after_first_checkpoint("pi", n, tmp_path / "run")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    code, _, err = finish(proc)
    assert code == 130, err  # the CLI's answer to KeyboardInterrupt
    assert "SIGINT received" in err and "interrupted: checkpoint" in err
    code, data, err = finish(
        start_kernel("pi", "--n", str(n), "--checkpoint-dir", str(tmp_path / "run"))
    )
    assert code == 0 and data["report"]["resumed_from"] > 0, err


def test_custom_exit_code_and_restored_handlers(tmp_path):
    """In-process: the handlers in force before the call are back after it."""
    import numpy as np
    from numba import njit, prange

    from blockloop import checkpointed_loop

    @checkpointed_loop(checkpoint_dir=tmp_path, exit_code=3)
    @njit(parallel=True)
    def total(x):
        s = 0.0
        for i in prange(x.shape[0]):
            s += x[i]
        return s

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    assert total(np.ones(1000)) == 1000.0
    assert {s: signal.getsignal(s) for s in before} == before
    assert total.options.exit_code == 3
