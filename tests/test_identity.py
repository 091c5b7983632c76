"""A run's identity: large arrays the kernel only reads enter the run key by a sample, and
their full hash is checked before any checkpoint is trusted or written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.storage.fingerprint import (
    SAMPLE_ABOVE,
    SAMPLE_BLOCK,
    SAMPLE_BLOCKS,
    args_fingerprint,
)
from blockloop.storage.store import manifest_paths
from blockloop.testing import Crash, Ticks, crashing_store, injected

GIB = 1 << 30


@njit(parallel=True, cache=True)
def weighted_total(x, w):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i] * w
    return s


@njit(parallel=True, cache=True)
def scale_into(x, out):
    for i in prange(x.shape[0]):
        out[i] = 2.0 * x[i]
    return out


def _outside_sample(n: int, itemsize: int) -> int:
    """An element near the middle of an ``n``-element array that no sampled block covers."""
    size = n * itemsize
    starts = [(size - SAMPLE_BLOCK) * k // (SAMPLE_BLOCKS - 1) for k in range(SAMPLE_BLOCKS)]
    index = n // 2 + 3001
    byte = index * itemsize
    assert not any(s <= byte < s + SAMPLE_BLOCK for s in starts)
    return index


def test_large_read_only_arrays_are_sampled_and_written_ones_hashed_whole():
    big = np.zeros(SAMPLE_ABOVE // 8 + 1)
    small = np.zeros(10)
    _, content = args_fingerprint(("x", "out"), (big, small), sample={"x"})
    assert content.pending_bytes == big.nbytes
    _, content = args_fingerprint(("x", "out"), (big, small), sample={"out"})
    assert content.pending_bytes == 0 and content.value() == ""
    # the same memory passed as a read-only and as a written argument: hashed whole
    _, content = args_fingerprint(("x", "out"), (big, big[::2]), sample={"x"})
    assert content.pending_bytes == 0


def test_the_kernels_own_writes_decide_what_is_sampled(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(scale_into)
    assert kernel._sampled == {"x"}


@pytest.fixture(scope="module")
def gib_array():
    """Small integers: their sums are exact in any order, so plain numba can check them
    (made in one allocation, filled in place: fresh memory is what costs here)."""
    x = np.empty(GIB // 8)
    whole = x.size - x.size % 7
    x[:whole].reshape(-1, 7)[:] = np.arange(7.0)  # x[i] = i % 7
    x[whole:] = np.arange(x.size - whole)
    return x


def test_one_changed_element_in_a_gib_argument_is_a_new_run(gib_array, tmp_path):
    """A change the sample does not see: same run key, yet the full hash sends the call to
    a run of its own, and the first run is still there, complete, afterwards."""
    x = gib_array
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=50.0)(weighted_total)
    with injected(kernel, clock=Ticks(1.0)):  # a checkpoint every 25 chunks or so
        first = kernel(x, 3.0)
        assert kernel.last_report.checkpoints >= 2
        first_dir = kernel.last_report.run_dir

        y = x.copy()
        y[_outside_sample(y.size, y.itemsize)] += 1.0
        assert kernel.run_key(y, 3.0) == kernel.run_key(x, 3.0)
        changed = kernel(y, 3.0)
        report = kernel.last_report
        assert report.run_dir != first_dir
        assert report.resumed_from is None and not report.already_complete
        assert changed == weighted_total(y, 3.0) == first + 3.0
        assert str(kernel.run_dir(y, 3.0)) == kernel.last_report.run_dir
        del y

        again = kernel(x, 3.0)
    assert kernel.last_report.run_dir == first_dir and kernel.last_report.already_complete
    assert again == first


def test_a_stopped_run_is_not_resumed_with_changed_content(gib_array, tmp_path):
    x = gib_array
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=50.0)(weighted_total)
    with injected(kernel, clock=Ticks(1.0)):
        with injected(kernel, store=crashing_store(after=2)), pytest.raises(Crash):
            kernel(x, 0.5)
        stopped_dir = kernel.last_report.run_dir
        assert len(manifest_paths(Path(stopped_dir))) >= 1

        y = x.copy()
        y[_outside_sample(y.size, y.itemsize)] = -7.0
        with injected(kernel, store=crashing_store(after=10**6)):
            assert kernel(y, 0.5) == weighted_total(y, 0.5)
            assert kernel.last_report.resumed_from is None
            assert kernel.last_report.run_dir != stopped_dir
            del y

            assert kernel(x, 0.5) == weighted_total(x, 0.5)
    report = kernel.last_report
    assert report.run_dir == stopped_dir and report.resumed_from is not None


def test_a_short_run_on_large_arguments_records_nothing(gib_array, tmp_path):
    """Hashing 1 GiB would cost more than the run: no completion record (the next call
    computes again), and no hash on the call's path."""
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(weighted_total)
    value = kernel(gib_array, 2.0)
    assert value == weighted_total(gib_array, 2.0)
    report = kernel.last_report
    assert report.complete and report.checkpoints == 0
    assert manifest_paths(Path(report.run_dir)) == []
    kernel(gib_array, 2.0)
    assert not kernel.last_report.already_complete


@pytest.mark.parametrize("interval", [50.0, 5.0])
def test_a_test_clock_gives_the_same_chunks_on_a_loaded_machine(interval, tmp_path):
    """A loaded machine measures a larger dispatch cost (the tests above failed under load:
    their chunks grew, so fewer checkpoints came). A run timed by an injected clock does
    not mix that real time into its own: its chunks and checkpoints are the same."""
    from kernels.pi import pi

    seen = []
    for k, dispatch in enumerate((1e-7, 0.02)):  # 0.1 us, and 20 ms of a very busy machine
        kernel = checkpointed_loop(checkpoint_dir=tmp_path / str(k), interval=interval)(pi.original)
        kernel(1000)  # compiled; its dispatch cost measured
        for generated in kernel._compiled():
            generated.dispatch = dispatch  # as that machine would have measured it
        with injected(kernel, clock=Ticks(1.0)):
            kernel(50_000_000)
        seen.append((kernel.last_report.chunks, kernel.last_report.checkpoints))
    assert seen[0] == seen[1]
    assert seen[0][1] >= 2
