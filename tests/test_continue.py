"""Ctrl-C an in-place kernel and run the cell again: the second call continues the run
(issue 27, item 4). Calling with the arrays as the interruption left them, or with their
original content, gives the bits of an uninterrupted run; anything else is a new run."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from numba import njit, prange

from blockloop import checkpointed_loop
from blockloop.testing import Ticks, injected


@njit(parallel=True, cache=True)
def bump(x, times):
    for i in prange(x.shape[0]):
        for _ in range(times):
            x[i] += 1.0 + 1e-3 * (i % 7)
    return x


class CtrlC(Ticks):
    """A clock that presses Ctrl-C (a real SIGINT) at its ``at``-th reading."""

    def __init__(self, at: int) -> None:
        super().__init__(1.0)
        self.at = at

    def __call__(self) -> float:
        if self.readings + 1 == self.at:  # Ticks counts this reading
            os.kill(os.getpid(), signal.SIGINT)
        return super().__call__()


def _start() -> np.ndarray:
    return np.linspace(0.0, 1.0, 400_000)


def _interrupted(tmp_path, at=6):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0)(bump)
    x = _start()
    with injected(kernel, clock=CtrlC(at)), pytest.raises(KeyboardInterrupt):
        kernel(x, 3)
    assert kernel.last_report.checkpoints >= 1
    return kernel, x


def _uninterrupted() -> np.ndarray:
    return bump(_start(), 3)


def test_calling_again_with_the_arrays_as_left_continues_the_run(tmp_path):
    kernel, x = _interrupted(tmp_path)
    assert not np.array_equal(x, _start()) and not np.array_equal(x, _uninterrupted())
    with injected(kernel, clock=Ticks(1.0)):
        kernel(x, 3)  # the cell run again, on the half-written array
    assert kernel.last_report.resumed_from is not None
    assert x.tobytes() == _uninterrupted().tobytes()


def test_twice_interrupted_then_continued(tmp_path):
    kernel, x = _interrupted(tmp_path)
    with injected(kernel, clock=CtrlC(4)), pytest.raises(KeyboardInterrupt):
        kernel(x, 3)
    with injected(kernel, clock=Ticks(1.0)):
        kernel(x, 3)
    assert x.tobytes() == _uninterrupted().tobytes()


def test_calling_with_the_original_content_continues_too(tmp_path):
    kernel, _ = _interrupted(tmp_path)
    x = _start()
    with injected(kernel, clock=Ticks(1.0)):
        kernel(x, 3)
    assert kernel.last_report.resumed_from is not None
    assert x.tobytes() == _uninterrupted().tobytes()


def test_other_content_is_a_new_run(tmp_path):
    kernel, x = _interrupted(tmp_path)
    x[0] += 100.0  # the user changed the array after the interruption
    want = bump(x.copy(), 3)
    with injected(kernel, clock=Ticks(1.0)):
        kernel(x, 3)
    assert kernel.last_report.resumed_from is None
    assert x.tobytes() == want.tobytes()


def test_the_interrupt_says_where_the_checkpoint_is_and_how_to_continue(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0)(bump)
    x = _start()
    with injected(kernel, clock=CtrlC(6)), pytest.raises(KeyboardInterrupt) as info:
        kernel(x, 3)
    message = str(info.value)
    run_dir = str(kernel.run_dir(_start(), 3))
    assert message.startswith("checkpoint saved at tile ")
    assert f" of {kernel.last_report.units_total} in {run_dir}; call again to continue" in message


def test_a_scheduler_signal_says_it_too(tmp_path):
    from blockloop import Interrupted

    class Term(CtrlC):
        def __call__(self) -> float:
            if self.readings + 1 == self.at:
                os.kill(os.getpid(), signal.SIGTERM)
            return Ticks.__call__(self)

    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0)(bump)
    with injected(kernel, clock=Term(6)), pytest.raises(Interrupted) as info:
        kernel(_start(), 3)
    assert info.value.code == 85
    assert str(info.value).startswith("stopped by SIGTERM: checkpoint saved at tile ")
    assert "run again to continue (exit code 85)" in str(info.value)
