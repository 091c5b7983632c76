"""A disk that fills up during a run.

Interval checkpoints that cannot be written are reported with a CheckpointWarning and the
run goes on (it writes again at the next interval, once there is room); a forced
checkpoint (completion, signal) that cannot be written stops the call with a
CheckpointError. Either way the previous generation stays intact.

The disk is a real 1 MiB tmpfs where the machine allows mounting one (root), else the
store's fault hook raises ENOSPC in the middle of the npz write.
"""

from __future__ import annotations

import errno
import os
import subprocess

import numpy as np
import pytest

from blockloop import CheckpointError, CheckpointWarning, checkpointed_loop
from blockloop.storage.store import Store, verify_generation
from blockloop.testing import Ticks, injected
from tests.helpers import swap_kernel

pytestmark = [pytest.mark.slow]

STEPS = 30


def start() -> np.ndarray:
    return np.cos(np.linspace(0.0, 5.0, 12_000))  # 2 x 96 kB of state


class Disk:
    """A small filesystem that can be filled and emptied."""

    def __init__(self, root, real: bool) -> None:
        self.root = root
        root.mkdir()
        self.real = real and (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)],
                capture_output=True,
            ).returncode
            == 0
        )

    def fill(self) -> None:
        if not self.real:
            os.environ["BLOCKLOOP_FAULT"] = "enospc:npz-written"
            return
        with open(self.root / "ballast", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC

    def empty(self) -> None:
        os.environ.pop("BLOCKLOOP_FAULT", None)
        if self.real:
            (self.root / "ballast").unlink(missing_ok=True)

    def close(self) -> None:
        os.environ.pop("BLOCKLOOP_FAULT", None)
        if self.real:
            subprocess.run(["umount", str(self.root)], check=True)


@pytest.fixture(params=["tmpfs", "injected"])
def disk(request, tmp_path):
    d = Disk(tmp_path / "small", real=request.param == "tmpfs")
    yield d
    d.close()


def _kernel(disk: Disk, fill_at: int, empty_at: int | None, seen: dict):
    """The kernel, and the store class whose saves fill and empty the disk."""

    class FillingStore(Store):
        def save(self, arrays, state, **kw):
            seen["saves"] += 1
            if seen["saves"] == fill_at:
                disk.fill()
            if seen["saves"] == empty_at:
                disk.empty()
            try:
                return super().save(arrays, state, **kw)
            except CheckpointError:
                seen["failed"] += 1
                newest = self.paths.generations()[-1]
                verify_generation(self.paths, newest)  # the previous generation is intact
                raise

    kernel = checkpointed_loop(checkpoint_dir=disk.root / "runs", interval=1.0, keep=2)(swap_kernel)
    return kernel, FillingStore


def test_interval_checkpoints_on_a_full_disk_warn_and_the_run_goes_on(disk):
    expected, total = swap_kernel(start(), STEPS)
    seen = {"saves": 0, "failed": 0}
    kernel, filling = _kernel(disk, fill_at=3, empty_at=7, seen=seen)
    with (
        injected(kernel, clock=Ticks(1.0), store=filling),  # a checkpoint after every chunk
        pytest.warns(CheckpointWarning, match="No space left on device"),
    ):
        result, got_total = kernel(start(), STEPS)
    assert np.array_equal(result, expected) and got_total == total
    assert seen["failed"] == 4  # saves 3..6 met the full disk
    report = kernel.last_report
    assert report.complete and report.checkpoints == seen["saves"] - seen["failed"]
    assert not list((disk.root / "runs").rglob(".*tmp*"))  # no temporary file left behind


def test_a_completion_on_a_full_disk_returns_the_result_with_a_warning(disk):
    expected, total = swap_kernel(start(), STEPS)
    seen = {"saves": 0, "failed": 0}
    kernel, filling = _kernel(disk, fill_at=3, empty_at=None, seen=seen)
    with injected(kernel, clock=Ticks(1.0)):  # a checkpoint after every chunk
        with injected(kernel, store=filling), pytest.warns(CheckpointWarning) as record:
            result, got_total = kernel(start(), STEPS)
        assert any("the result is returned but not saved" in str(w.message) for w in record)
        assert np.array_equal(result, expected) and got_total == total  # computed, not lost
        disk.empty()
        # nothing of the completion was saved: the next call resumes from the last generation
        # written before the disk filled, and computes the same result
        result, got_total = kernel(start(), STEPS)
    assert kernel.last_report.resumed_from is not None
    assert np.array_equal(result, expected) and got_total == total
