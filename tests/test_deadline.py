"""Deadline awareness with an injected wall clock (no sleeping), and where it comes from."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from blockloop import Interrupted, checkpointed_loop
from blockloop.scheduling.deadline import resolve_deadline, slurm_end_time
from blockloop.storage.store import read_manifest
from blockloop.testing import Ticks, injected
from tests.helpers import fresh, swap_kernel


def test_the_run_stops_before_its_deadline_and_resumes(tmp_path):
    expected, total = swap_kernel(fresh(), 60)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, deadline=4)(swap_kernel)
    with (
        injected(
            kernel,
            wall_clock=Ticks(1.0),  # every reading of the wall clock is a second later
            clock=Ticks(0.05),  # and every chunk "computes" 50 ms: chunks of a few steps
        ),
        pytest.raises(Interrupted) as info,
    ):
        kernel(fresh(), 60)
    assert info.value.code == 85 and info.value.signal is None
    assert "deadline" in str(info.value)
    report = kernel.last_report
    assert report.interrupted_by == "deadline" and 0 < report.tiles < 60
    manifest = read_manifest(sorted(kernel.run_dir(fresh(), 60).glob("ckpt-*.json"))[-1])
    assert manifest["reason"] == "deadline"
    # the next job has time enough: the kernel's own clocks are back
    result, got = kernel(fresh(), 60)
    assert kernel.last_report.resumed_from == report.tiles
    assert np.array_equal(result, expected) and got == total


def test_deadline_forms(monkeypatch):
    now = 1_000_000.0
    assert resolve_deadline(90, now=now) == now + 90
    assert resolve_deadline("45m", now=now) == now + 2700
    when = dt.datetime(2030, 1, 2, 3, 4, 5)
    assert resolve_deadline(when, now=now) == when.timestamp()
    assert resolve_deadline("2030-01-02T03:04:05", now=now) == when.timestamp()
    with pytest.raises(ValueError, match="deadline"):
        checkpointed_loop(deadline="soon")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert resolve_deadline(None) is None and slurm_end_time() is None
    monkeypatch.setenv("SLURM_JOB_ID", "12345")
    monkeypatch.setenv("SLURM_JOB_END_TIME", "1900000000")
    assert resolve_deadline(None) == 1900000000.0
