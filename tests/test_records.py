"""A fresh run creates nothing until its first checkpoint, and a short run's completion
record is written after the call returns (on blockloop's background thread)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from blockloop import CheckpointError, checkpointed_loop
from blockloop.storage import background
from blockloop.storage.store import RunPaths, Store
from blockloop.testing import Ticks, injected
from kernels.pi import pi
from tests import map_kernels as mk
from tests.conftest import child_env, spawn


@pytest.fixture
def writers(monkeypatch):
    """``(returned, durable)`` of every save from here on: ``returned`` is whether the
    test had set ``writers.returned`` (after a call) when the save began."""
    seen = Saves()
    real = Store.save

    def save(self, arrays, state, **kw):
        seen.append((seen.returned.is_set(), kw.get("durable", True)))
        return real(self, arrays, state, **kw)

    monkeypatch.setattr(Store, "save", save)
    return seen


class Saves(list):
    def __init__(self) -> None:
        super().__init__()
        self.returned = threading.Event()


def test_a_short_runs_record_is_written_after_the_call(ckdir, monkeypatch, writers):
    """The record waits (on the thread, or queued) until the call has returned; then the
    next call on the run waits for it."""
    real = Store.save

    def held(self, arrays, state, **kw):  # a save in the call would fail here, not hang
        assert writers.returned.wait(timeout=120), "the record was written in the call"
        return real(self, arrays, state, **kw)

    monkeypatch.setattr(Store, "save", held)
    expected = pi(30_011)
    writers.returned.set()
    report = pi.last_report
    assert report.complete and report.checkpoints == 1 and not report.already_complete
    background.wait()
    run_dir = pi.run_dir(30_011)
    assert RunPaths(run_dir.parent, run_dir.name).generations() == [1]
    assert pi(30_011) == expected and pi.last_report.already_complete


def test_a_short_runs_record_is_not_fsynced(ckdir, writers):
    pi(30_013)
    writers.returned.set()
    background.wait()
    assert writers == [(True, False)]
    pi(30_013)
    assert pi.last_report.already_complete and len(writers) == 1


def test_a_large_state_is_recorded_in_the_call(tmp_path, writers):
    """Over 1 MiB, a record is not copied for later: it is written before the call returns
    (still without fsync)."""
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, progress=False)(mk.scale_1d)
    x = np.linspace(0.0, 1.0, 200_000)  # 1.6 MB of output
    kernel(x, np.zeros_like(x))
    assert writers == [(False, False)]  # before the call returned


def test_the_record_holds_the_result_the_call_returned(tmp_path):
    """The caller may change the output the moment the call returns: the record is of a
    copy, taken before."""
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, progress=False)(mk.scale_1d)
    x = np.linspace(0.0, 1.0, 5_000)
    out = np.zeros_like(x)
    kernel(x, out)
    expected = out.copy()
    out[:] = -1.0  # before the record is (or may be) written
    again = np.zeros_like(x)
    kernel(x, again)
    assert kernel.last_report.already_complete
    np.testing.assert_array_equal(again, expected)


def test_a_process_that_ends_at_once_leaves_its_record(ckdir):
    code = "from kernels.pi import pi; print(repr(pi(40_009)))"
    child = subprocess.run(
        [sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr
    assert pi(40_009) == float(child.stdout) and pi.last_report.already_complete


def test_a_fresh_run_takes_its_lock_at_its_first_checkpoint(ckdir, monkeypatch):
    """Another process that made the run's directory and holds its lock since this call
    began stops this call at its first checkpoint, with the usual error."""
    monkeypatch.setenv("BLOCKLOOP_INTERVAL", "0.000001")  # a checkpoint after every chunk
    holder: list[subprocess.Popen] = []

    class Racing(Store):
        def acquire(self):
            super().acquire()
            assert self.deferred and not self.paths.run_dir.exists()
            self.paths.run_dir.mkdir(parents=True)
            script = (
                "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
                "print('locked', flush=True); sys.stdin.read()"
            )
            holder.append(
                spawn(
                    [sys.executable, "-c", script, str(self.paths.lock)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            assert holder[0].stdout.readline().strip() == "locked"

    try:
        with (
            injected(pi, store=Racing),
            pytest.raises(CheckpointError, match="in use by another process"),
        ):
            pi(20_000_000)
    finally:
        for p in holder:
            p.communicate("")
    assert pi.last_report.checkpoints == 0
    assert pi(20_000_000) == pytest.approx(np.pi, abs=1e-12)  # free again: it runs


def test_a_directory_removed_after_a_call_stays_removed(tmp_path, monkeypatch):
    """``TemporaryDirectory``'s cleanup (``shutil.rmtree``) waits for the record, and a
    record whose checkpoint root is gone does not make it again."""
    import shutil
    import tempfile

    written = []
    real = Store.save
    monkeypatch.setattr(Store, "save", lambda *a, **kw: written.append(real(*a, **kw)))
    for _ in range(20):  # each cleanup would race with the record without the wait
        with tempfile.TemporaryDirectory(dir=tmp_path) as root:
            checkpointed_loop(checkpoint_dir=root, progress=False)(pi.original)(10_007)
        assert not background._pending  # written into the directory, before it went
    assert len(written) == 20 and list(tmp_path.iterdir()) == []

    root = tmp_path / "gone"
    kernel = checkpointed_loop(checkpoint_dir=root, progress=False)(pi.original)
    store = Store(kernel._paths(*kernel._key((10_009,))), None, defer=True)
    store.acquire()  # the root is made here, the run directory is not
    assert store.deferred and root.is_dir() and not store.paths.run_dir.exists()
    shutil.rmtree(root)
    with pytest.raises(CheckpointError, match="cannot create the checkpoint directory"):
        store.take()
    assert not root.exists()


def test_a_later_record_hashes_the_arguments_the_call_read(tmp_path, monkeypatch):
    """A record written after the call carries the full hash of the sampled arguments as
    the call read them: the caller changes one (outside the sample) before the record is
    written, and the changed array must not find the record."""
    from blockloop.storage.fingerprint import SAMPLE_ABOVE
    from tests.test_identity import _outside_sample, weighted_total

    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1e9, progress=False)(
        weighted_total
    )
    clock = Ticks(10.0)  # a long call: its sampled arguments are worth hashing
    changed = threading.Event()
    real = Store.save

    def held(self, arrays, state, **kw):
        assert changed.wait(timeout=120)
        return real(self, arrays, state, **kw)

    monkeypatch.setattr(Store, "save", held)
    x = np.ones(SAMPLE_ABOVE // 8 + 4096)
    with injected(kernel, clock=clock):
        kernel(x, 0.5)
    assert kernel.last_report.checkpoints == 1  # the record, still to be written
    x[_outside_sample(x.size, x.itemsize)] = 3.0
    changed.set()
    background.wait()
    with injected(kernel, clock=clock):
        assert kernel(x, 0.5) == weighted_total(x, 0.5)
    assert not kernel.last_report.already_complete
