"""Kernels of several loops (phases) and convergence loops: what blockloop finds in them,
their results beside plain numba's, a crash in every phase, any thread count."""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import ClassVar

import numba
import numpy as np
import pytest

from blockloop import CheckpointWarning, checkpointed_loop
from blockloop.runtime import handoff
from blockloop.runtime.progress import Progress
from blockloop.storage.store import Store
from blockloop.testing import Crash, Ticks, injected
from blockloop.tools.cli import main
from tests import phase_kernels as pk

NAMES = sorted(pk.INPUTS)
_KERNELS: dict[str, object] = {}


def _kernel(name: str, root, ticks: bool = False) -> object:
    """The decorated kernel (decorated once per session: its compiled code is shared),
    checkpointing under ``root``; with ``ticks``, the interval is 1 s, for calls run with
    ``injected(kernel, clock=Ticks(0.1))``: every clock reading "takes" 0.1 s, so
    checkpoints come every few chunks, the same on every run."""
    if name not in _KERNELS:
        _KERNELS[name] = checkpointed_loop(progress=False)(getattr(pk, name))
    kernel = _KERNELS[name]
    kernel.options = dataclasses.replace(
        kernel.options, checkpoint_dir=str(root), interval=1.0 if ticks else None
    )
    return kernel


def _flat(value: object) -> list[np.ndarray]:
    if isinstance(value, tuple):
        return [a for v in value for a in _flat(v)]
    return [np.asarray(value)]


def _same_bits(a: object, b: object) -> bool:
    fa, fb = _flat(a), _flat(b)
    return len(fa) == len(fb) and all(
        x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
        for x, y in zip(fa, fb, strict=True)
    )


@pytest.mark.parametrize("name", NAMES)
def test_phases_are_found_and_named_in_the_generated_code(name, tmp_path):
    kernel = _kernel(name, tmp_path)
    assert len(kernel.phases) == pk.PHASES[name]
    if pk.PHASES[name] > 1:
        for k, plan in enumerate(kernel.phases, start=1):
            head = f"phase {k} of {pk.PHASES[name]}: the loop at line {plan.line}"
            assert head in kernel.blocked_source
        assert all(p.hands_on for p in kernel.phases[:-1])
        assert kernel.phases[-1].hands_on == ()


@pytest.mark.parametrize("name", NAMES)
def test_results_match_plain_numba(name, tmp_path):
    """Exact operations give plain numba's bits; float sums (a fixed pairwise order here,
    numba's thread-dependent one there) agree to rounding."""
    plain_args, args = pk.INPUTS[name](), pk.INPUTS[name]()
    want = getattr(pk, name)(*plain_args)
    kernel = _kernel(name, tmp_path)
    got = kernel(*args)
    report = kernel.last_report
    assert report.complete and report.phase == report.phases == pk.PHASES[name]
    for x, y in zip(_flat(got) + _flat(args), _flat(want) + _flat(plain_args), strict=True):
        if x.dtype.kind in "iub":
            assert np.array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12)
    again = kernel(*pk.INPUTS[name]())
    assert kernel.last_report.already_complete and _same_bits(again, got)


@pytest.mark.parametrize("name", ["fill_then_sum", "column_scaler"])
def test_the_report_times_the_whole_call_not_its_last_phase(name, tmp_path):
    kernel = _kernel(name, tmp_path, ticks=True)
    clock = Ticks(0.1)  # each reading "takes" 0.1 s: the call's wall time is its readings
    with injected(kernel, clock=clock):
        kernel(*pk.INPUTS[name]())
    report = kernel.last_report
    assert report.phases > 1 and report.wall_time >= report.compute_time
    assert report.wall_time >= (clock.readings - 3) * clock.step


class _Recorder(Store):
    """Counts saves per phase directory; with ``crash_at``, dies at that save."""

    saves: ClassVar[list[str]] = []
    crash_at: ClassVar[int | None] = None

    def save(self, arrays, state, **kw):
        _Recorder.saves.append(self.paths.name)
        if _Recorder.crash_at is not None and len(_Recorder.saves) == _Recorder.crash_at:
            raise Crash
        return super().save(arrays, state, **kw)


def _files(run_dir) -> dict[str, list[str]]:
    return {
        d.name: sorted(f.name for f in d.iterdir() if f.name.startswith("ckpt-"))
        for d in sorted(run_dir.iterdir())
        if d.is_dir()
    }


@pytest.mark.parametrize("name", ["column_scaler", "csr_from_threshold", "fill_then_sum"])
def test_a_crash_in_each_phase_resumes_in_that_phase(name, tmp_path):
    """Crash at every checkpoint of a run in turn: the next call resumes in the phase that
    was running, leaves the files of the phases before it as they were (they are not
    computed again) and ends with an uninterrupted run's bits, result and arguments."""
    kernel = _kernel(name, tmp_path / "whole", ticks=True)
    _Recorder.saves, _Recorder.crash_at = [], None
    args = pk.INPUTS[name]()
    with injected(kernel, clock=Ticks(0.1), store=_Recorder):
        want = kernel(*args)
    saves = list(_Recorder.saves)
    assert len(set(saves)) == pk.PHASES[name]
    # the first and the last save of every phase, and a few between
    ends = {saves.index(p) + 1 for p in set(saves)}
    ends |= {len(saves) - saves[::-1].index(p) for p in set(saves)}
    ends |= set(range(1, len(saves) + 1, max(1, len(saves) // 5)))

    crashed_in = set()
    for at in sorted(ends):
        kernel = _kernel(name, tmp_path / f"crash{at}", ticks=True)
        _Recorder.saves, _Recorder.crash_at = [], at
        with injected(kernel, clock=Ticks(0.1), store=_Recorder):
            with pytest.raises(Crash):
                kernel(*pk.INPUTS[name]())
            phase = saves[at - 1]
            crashed_in.add(phase)
            run_dir = kernel.run_dir(*pk.INPUTS[name]())
            before = _files(run_dir)
            _Recorder.saves, _Recorder.crash_at = [], None
            args_again = pk.INPUTS[name]()
            got = kernel(*args_again)
        report = kernel.last_report
        assert _same_bits(got, want) and _same_bits(args_again, args), (name, at)
        assert not report.already_complete  # the phase that crashed was computed again
        assert _Recorder.saves[0] == phase  # the first save is in the phase that crashed
        after = _files(run_dir)
        for done in sorted(before):
            if done < phase:
                assert after[done] == before[done]  # an earlier phase: not run again
        if report.resumed_phase is not None:  # resumed in an earlier phase (at its start
            assert report.resumed_phase <= report.phase  # after a handoff: unit 0)
        elif report.resumed_from is not None:
            assert report.resumed_from > 0
    assert crashed_in == set(saves)  # a crash in every phase


class _Counted:
    """A generated function that counts its calls (and is otherwise the function)."""

    def __init__(self, dispatcher) -> None:
        self.dispatcher, self.calls = dispatcher, 0

    def __call__(self, *args):
        self.calls += 1
        return self.dispatcher(*args)

    def __getattr__(self, name):
        return getattr(self.dispatcher, name)


def _crash_in_last_phase(name: str, root) -> tuple[object, object, object, Ticks]:
    """An uninterrupted run's result and arguments, a kernel whose run under ``root``
    died at the first checkpoint of its last phase, and the clock that run had: resume it
    with ``injected(kernel, clock=clock, store=_Recorder)``."""
    kernel = _kernel(name, root / "whole", ticks=True)
    _Recorder.saves, _Recorder.crash_at = [], None
    args = pk.INPUTS[name]()
    with injected(kernel, clock=Ticks(0.1), store=_Recorder):
        want = kernel(*args)
    last = f"phase-{pk.PHASES[name]}"
    crash_at = _Recorder.saves.index(last) + 1
    kernel = _kernel(name, root / "crash", ticks=True)
    _Recorder.saves, _Recorder.crash_at = [], crash_at
    clock = Ticks(0.1)
    with injected(kernel, clock=clock, store=_Recorder), pytest.raises(Crash):
        kernel(*pk.INPUTS[name]())
    _Recorder.saves, _Recorder.crash_at = [], None
    return kernel, want, args, clock


def _count_prologues(kernel, monkeypatch) -> list[_Counted]:
    counted = []
    for gen in kernel._compiled():
        counted.append(_Counted(gen.module._bl_prologue))
        monkeypatch.setattr(gen.module, "_bl_prologue", counted[-1])
    return counted


def test_a_resume_skips_finished_phases_and_the_statements_before_their_loops(
    tmp_path, monkeypatch
):
    """Phases 1 and 2 finished before the crash: their handoffs give back what they
    handed on (a new array, a tuple, scalars) and the arguments they changed (one in
    place between loops, one by a map), so neither they nor the statements before their
    loops run again; the result and the arguments have the uninterrupted run's bits."""
    kernel, want, args, clock = _crash_in_last_phase("equalise", tmp_path)
    run_dir = kernel.run_dir(*pk.INPUTS["equalise"]())
    assert all((run_dir / f"phase-{k}" / "handoff.json").exists() for k in (1, 2))
    prologues = _count_prologues(kernel, monkeypatch)
    args_again = pk.INPUTS["equalise"]()
    with injected(kernel, clock=clock, store=_Recorder):
        got = kernel(*args_again)
    assert [p.calls for p in prologues] == [0, 0, 1]
    assert _Recorder.saves[0] == "phase-3"
    assert _same_bits(got, want) and _same_bits(args_again, args)
    assert kernel.last_report.phase == 3 and not kernel.last_report.already_complete


@pytest.mark.parametrize(
    ("damaged", "prologue_calls"),
    [
        (("phase-2",), [0, 1, 1]),  # phase 1's handoff instead, phase 2 from its checkpoint
        (("phase-1", "phase-2"), [1, 1, 1]),  # every finished phase from its checkpoint
    ],
)
def test_a_damaged_handoff_falls_back(tmp_path, monkeypatch, capsys, damaged, prologue_calls):
    """``blockloop verify`` finds the damage; the resume warns, takes the newest handoff
    that verifies (or the phases' checkpoints) and ends with the same bits."""
    kernel, want, args, clock = _crash_in_last_phase("equalise", tmp_path)
    run_dir = kernel.run_dir(*pk.INPUTS["equalise"]())
    for phase in damaged:
        npz = run_dir / phase / "handoff.npz"
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0x01
        npz.write_bytes(bytes(data))
    assert main(["verify", str(tmp_path / "crash")]) == 1
    out = capsys.readouterr().out
    assert all(re.search(rf"BAD +\S*{p}/handoff\.json", out) for p in damaged)
    prologues = _count_prologues(kernel, monkeypatch)
    args_again = pk.INPUTS["equalise"]()
    with (
        injected(kernel, clock=clock, store=_Recorder),
        pytest.warns(CheckpointWarning) as caught,
    ):
        got = kernel(*args_again)
    messages = [str(w.message) for w in caught]
    for phase in damaged:
        assert any(re.search(rf"skipping .*{phase}/handoff\.json", m) for m in messages)
    assert [p.calls for p in prologues] == prologue_calls
    assert _same_bits(got, want) and _same_bits(args_again, args)


def test_a_handoff_that_costs_more_than_it_saves_is_not_written(tmp_path, monkeypatch):
    """A handoff takes longer to write than the phases before it took (here: every one, at
    a write rate of 1 byte a second) is left out; a resume after a crash in the last phase
    runs the statements before every loop again, takes the finished phases' results from
    their checkpoints, and ends with the uninterrupted run's bits and arguments."""
    monkeypatch.setattr(handoff, "WRITE_RATE", 1.0)
    kernel, want, args, clock = _crash_in_last_phase("equalise", tmp_path)
    run_dir = kernel.run_dir(*pk.INPUTS["equalise"]())
    assert not any(run_dir.glob("phase-*/handoff.*"))
    assert (run_dir / "phase-1").is_dir() and (run_dir / "phase-2").is_dir()
    prologues = _count_prologues(kernel, monkeypatch)
    args_again = pk.INPUTS["equalise"]()
    with injected(kernel, clock=clock, store=_Recorder):
        got = kernel(*args_again)
    assert [p.calls for p in prologues] == [1, 1, 1]
    assert _Recorder.saves[0] == "phase-3"  # phases 1 and 2 were not computed again
    assert _same_bits(got, want) and _same_bits(args_again, args)


def test_a_view_of_an_argument_is_not_handed_on_from_a_copy(tmp_path, monkeypatch):
    """Phase 2 hands phase 3 a view of the argument ``out``: a copy from a handoff would
    not be that memory, so phase 2 has none, and its statements run again on a resume."""
    kernel, want, args, clock = _crash_in_last_phase("centred_interior", tmp_path)
    run_dir = kernel.run_dir(*pk.INPUTS["centred_interior"]())
    assert (run_dir / "phase-1" / "handoff.json").exists()
    assert not (run_dir / "phase-2" / "handoff.json").exists()
    prologues = _count_prologues(kernel, monkeypatch)
    args_again = pk.INPUTS["centred_interior"]()
    with injected(kernel, clock=clock, store=_Recorder):
        got = kernel(*args_again)
    assert [p.calls for p in prologues] == [0, 1, 1]
    assert _same_bits(got, want) and _same_bits(args_again, args)


def test_progress_without_a_total_counts_steps():
    bar = Progress(True, "relax_until", None, 5, "step")
    assert bar._bar is not None and bar._bar.total is None
    bar.update(3, 1)
    assert bar._bar.n == 8
    bar.close()


def test_convergence_loop_stops_where_an_uninterrupted_run_stops(tmp_path, caplog):
    """A ``while`` loop and a ``break``: after crashes at several checkpoints the run stops
    at the same step, with the same bits; a completed run stays stopped."""
    for name in ("relax_until", "power_iteration"):
        kernel = _kernel(name, tmp_path / name / "whole", ticks=True)
        with injected(kernel, clock=Ticks(0.1)):
            want = kernel(*pk.INPUTS[name]())
        steps = kernel.last_report.units_total
        assert steps == (want[0] if name == "relax_until" else want[1])
        for at in (1, 7):
            kernel = _kernel(name, tmp_path / name / f"crash{at}", ticks=True)
            with injected(kernel, clock=Ticks(0.1)):
                _Recorder.saves, _Recorder.crash_at = [], at
                with injected(kernel, store=_Recorder), pytest.raises(Crash):
                    kernel(*pk.INPUTS[name]())
                with caplog.at_level(logging.INFO, logger="blockloop"):
                    got = kernel(*pk.INPUTS[name]())
                assert _same_bits(got, want)
                assert kernel.last_report.units_total == steps
                again = kernel(*pk.INPUTS[name]())
                assert kernel.last_report.already_complete and _same_bits(again, want)
    assert "of ?" in caplog.text  # a while loop's step count is not known ahead


@pytest.mark.parametrize("name", ["relax_until", "power_iteration", "column_scaler"])
def test_reductions_inside_steps_do_not_depend_on_the_thread_count(name, tmp_path):
    """In-step prange reductions use fixed tiles: 1 and 2 threads give the same bits,
    iteration counts included."""
    results = []
    threads = numba.get_num_threads()
    try:
        for count in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(count)
            kernel = _kernel(name, tmp_path / f"t{count}")
            results.append(kernel(*pk.INPUTS[name]()))
    finally:
        numba.set_num_threads(threads)
    assert _same_bits(results[0], results[1])
