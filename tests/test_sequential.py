"""Sequential loops: what is carried, in-place arguments across a crash, the writer, the
policy with an injected clock."""

from __future__ import annotations

import ast
import threading

import numpy as np
import pytest
from numba import njit

from blockloop import BlockingError, checkpointed_loop, daly_interval
from blockloop.runtime.writer import Writer
from blockloop.scheduling.policy import Policy
from blockloop.storage.store import Store, read_manifest
from blockloop.testing import Crash, Ticks, crashing_store, injected
from blockloop.transform.sequential import possibly_mutated
from tests.helpers import fresh, swap_kernel


@njit(cache=True)
def _scale(a, f):
    for k in range(a.shape[0]):
        a[k] *= f


def _mutated(src: str, names: set[str]) -> set[str]:
    return possibly_mutated(ast.parse(src).body, names)


def test_possibly_mutated_is_conservative_but_not_blind():
    assert _mutated("x = u[i] + u.shape[0] + len(u) + u.sum()", {"u"}) == set()
    assert _mutated("u[i] = 1.0", {"u"}) == {"u"}
    assert _mutated("u[i, j] += 1.0", {"u"}) == {"u"}
    assert _mutated("w = u[1:]", {"u"}) == {"u"}  # a view that may be written through
    assert _mutated("w = u[1, 2]", {"u"}) == set()  # an element
    assert _mutated("helper(u, 2.0)", {"u"}) == {"u"}
    assert _mutated("np.copyto(u, w)", {"u", "w"}) == {"u", "w"}  # every argument counts
    assert _mutated("x = np.dot(u, w)", {"u", "w"}) == set()
    assert _mutated("x = np.sqrt(u)", {"u"}) == set()
    assert _mutated("np.sqrt(w, out=u)", {"u", "w"}) == {"u", "w"}
    assert _mutated("u.fill(0.0)", {"u"}) == {"u"}


def test_plan_finds_swapped_and_written_state():
    kernel = checkpointed_loop(swap_kernel)
    plan = kernel.plan
    assert plan.kind == "sequential"
    assert plan.state == ("total", "u", "v")
    assert "def _bl_steps(" in kernel.blocked_source
    assert "return (total, u, v)" in kernel.blocked_source


@pytest.mark.parametrize("crash_after", [2, 5])
def test_crash_and_resume_leaves_the_argument_as_an_uninterrupted_run(
    crash_after, tmp_path, monkeypatch
):
    u_plain = fresh()
    expected, expected_total = swap_kernel(u_plain, 41)

    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0)(swap_kernel)
    # every chunk "takes" a second: a checkpoint after each
    with injected(kernel, clock=Ticks(1.0)):
        u = fresh()
        with injected(kernel, store=crashing_store(crash_after)), pytest.raises(Crash):
            kernel(u, 41)
        assert not np.array_equal(u, fresh())  # the crashed call had written into u

        u = fresh()  # the user passes the same initial array again
        result, total = kernel(u, 41)
    report = kernel.last_report
    assert report.resumed_from is not None and 0 < report.resumed_from < 41
    assert np.array_equal(result, expected) and total == expected_total
    assert np.array_equal(u, u_plain)  # the argument holds what plain numba left in it
    sessions = read_manifest(_newest_manifest(kernel.run_dir(fresh(), 41)))["sessions"]
    assert [s["end"] for s in sessions] == ["interval", "complete"]  # one failure on record


def _newest_manifest(run_dir):
    return sorted(run_dir.glob("ckpt-*.json"))[-1]


def test_a_carried_list_is_refused_at_its_line(tmp_path):
    @checkpointed_loop(checkpoint_dir=tmp_path)
    def collect(n):
        seen = [0.0]
        for t in range(n):
            seen.append(t * 0.5)
        return len(seen)

    with pytest.raises(BlockingError, match="cannot checkpoint") as info:
        collect(4)
    assert info.value.lineno == collect.plan.source.first_line + 2


def _writing() -> bool:
    return any(t.name == "blockloop-writer" for t in threading.enumerate())


def test_writer_does_not_block_and_hands_back_errors():
    release = threading.Event()
    written = []

    def slow_save(arrays, state):
        release.wait()
        return 7, 0.5

    writer = Writer()
    writer.submit(slow_save, {}, {}, lambda g, s: written.append(g))
    assert _writing() and written == []  # submit returned while the write is in flight
    release.set()
    writer.wait()
    assert written == [7] and not _writing()

    def failing_save(arrays, state):
        raise OSError("disk full")

    writer.submit(failing_save, {}, {}, lambda g, s: None)
    with pytest.raises(OSError, match="disk full"):
        writer.wait()
    writer.wait()  # the error is handed back once


@pytest.mark.parametrize("cost", [1e-3, 2.0])
def test_policy_interval_follows_the_measured_cost(cost):
    policy = Policy(mtbf=3600.0)
    policy.record_write(cost)
    assert policy.interval == pytest.approx(daly_interval(cost, 3600.0), rel=1e-12)


@pytest.mark.parametrize("cost", [1e-3, 2.0])
def test_run_measures_the_write_cost_with_an_injected_clock(cost, tmp_path):
    clock = Ticks(1e-7)

    class TimedStore(Store):
        def __init__(self, *args, **kw):  # a short run's record is written after the call
            super().__init__(*args, **{**kw, "defer": False})  # here: in it, timed

        def save(self, arrays, state, **kw):
            clock.now += cost  # the write "takes" exactly `cost` on the injected clock
            return super().save(arrays, state, **kw)

    kernel = checkpointed_loop(checkpoint_dir=tmp_path / str(cost), mtbf="1h")(swap_kernel)
    with injected(kernel, clock=clock, store=TimedStore):
        kernel(fresh(), 9)
    report = kernel.last_report
    assert report.write_cost == pytest.approx(cost, abs=1e-5)
    assert report.interval == pytest.approx(daly_interval(report.write_cost, 3600.0))
    assert report.interval == pytest.approx(daly_interval(cost, 3600.0), rel=1e-3)
