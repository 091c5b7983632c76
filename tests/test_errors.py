"""Bad input gets a typed error at decoration that says what to do; what cannot be written
is a warning where the run can go on (issue 27, item 5)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from blockloop import CheckpointError, CheckpointWarning, checkpointed_loop
from blockloop.numerics import compile as compile_module
from blockloop.testing import Ticks, injected
from tests.helpers import fresh, swap_kernel


@pytest.mark.parametrize(
    ("signals", "error", "phrase"),
    [
        ([signal.SIGKILL], ValueError, "SIGKILL cannot be caught"),
        ([signal.SIGSTOP], ValueError, "SIGSTOP cannot be caught"),
        ("SIGTERM", TypeError, "an iterable of signals"),
        (["SIGNOPE"], ValueError, "not a signal name"),
        ([12345], ValueError, "not a signal number"),
        ([1.5], TypeError, "neither a signal number nor a name"),
    ],
)
def test_signals_are_checked_at_decoration(signals, error, phrase):
    with pytest.raises(error, match=phrase):
        checkpointed_loop(signals=signals)


def test_signals_may_be_named():
    decorate = checkpointed_loop(signals=["SIGTERM", "USR1", signal.SIGINT])
    assert decorate(swap_kernel).options.signals == (
        int(signal.SIGTERM),
        int(signal.SIGUSR1),
        int(signal.SIGINT),
    )


def test_a_checkpoint_dir_that_is_not_a_path_is_refused():
    with pytest.raises(TypeError, match="checkpoint_dir must be a path"):
        checkpointed_loop(checkpoint_dir=3)


def test_an_unknown_fault_action_is_refused_before_the_call_starts(tmp_path, monkeypatch):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(swap_kernel)
    monkeypatch.setenv("BLOCKLOOP_FAULT", "crash:npz-written")
    with pytest.raises(ValueError, match="BLOCKLOOP_FAULT='crash:npz-written'"):
        kernel(fresh(), 10)
    assert not any(tmp_path.iterdir())  # nothing was started


def test_an_unwritable_cache_directory_falls_back_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("BLOCKLOOP_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(compile_module, "_FALLBACK", [])
    monkeypatch.setattr(compile_module, "_LOADED", {})
    kernel = checkpointed_loop(checkpoint_dir=tmp_path / "runs")(swap_kernel)
    with pytest.warns(RuntimeWarning, match="BLOCKLOOP_CACHE_DIR"):
        u, total = kernel(fresh(), 20)
    want_u, want_total = swap_kernel(fresh(), 20)
    assert np.array_equal(u, want_u) and total == want_total
    assert str(kernel.module_path).startswith(str(compile_module._FALLBACK[0]))


_FALLS_BACK = """
import warnings
from numba import njit, prange
from blockloop import checkpointed_loop

@checkpointed_loop(checkpoint_dir={runs!r}, progress=False)
@njit(parallel=True)
def total(n):
    s = 0
    for i in prange(n):
        s += i
    return s

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert total(1000) == 499500
print(total.module_path)
"""


def test_the_fallback_cache_directory_is_removed_when_the_process_exits(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = dict(os.environ, BLOCKLOOP_CACHE_DIR=str(blocker / "cache"))
    script = tmp_path / "falls_back.py"  # blockloop reads a kernel's source from its file
    script.write_text(_FALLS_BACK.format(runs=str(tmp_path / "runs")))
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    used = Path(out.stdout.strip())
    assert used.name.endswith(".py") and "blockloop-cache-" in str(used)
    assert not used.parent.exists() and not used.parent.parent.exists()


class _RootTurnsIntoAFile(Ticks):
    """A clock that, at its third reading (the run has started), puts a file where the
    checkpoint root was: every later checkpoint finds the root unwritable."""

    def __init__(self, root) -> None:
        super().__init__(1.0)
        self.root = root

    def __call__(self) -> float:
        if self.readings + 1 == 3:  # Ticks counts this reading
            shutil.rmtree(self.root)
            self.root.write_text("")
        return super().__call__()


def test_interval_checkpoints_under_a_vanished_root_warn_and_the_run_goes_on(tmp_path):
    root = tmp_path / "runs"
    kernel = checkpointed_loop(checkpoint_dir=root, interval=1.0)(swap_kernel)
    clock = _RootTurnsIntoAFile(root)  # and a checkpoint after every chunk
    with injected(kernel, clock=clock), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        u, total = kernel(fresh(), 200)
    want_u, want_total = swap_kernel(fresh(), 200)
    assert np.array_equal(u, want_u) and total == want_total
    assert clock.readings > 3
    messages = [str(w.message) for w in caught if issubclass(w.category, CheckpointWarning)]
    assert any("the run goes on" in m for m in messages), messages


def test_a_checkpoint_root_that_cannot_be_made_is_refused_before_any_work(tmp_path):
    root = tmp_path / "file-not-dir"
    root.write_text("")
    kernel = checkpointed_loop(checkpoint_dir=root / "runs")(swap_kernel)
    with pytest.raises(CheckpointError, match="choose a writable checkpoint_dir"):
        kernel(fresh(), 200)


@pytest.mark.parametrize(
    ("budget", "how"),
    [(None, "background"), ("1GiB", "background"), (1, "synchronous"), (0, "synchronous")],
)
def test_a_state_over_the_copy_budget_is_written_without_a_copy(tmp_path, budget, how):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0, copy_budget=budget)(
        swap_kernel
    )
    with injected(kernel, clock=Ticks(1.0)):  # a checkpoint after every chunk
        u, total = kernel(fresh(), 200)
    want_u, want_total = swap_kernel(fresh(), 200)
    assert np.array_equal(u, want_u) and total == want_total
    writes = kernel.last_report.writes
    assert len(writes) == kernel.last_report.checkpoints >= 3
    assert set(writes[:-1]) == {how}  # interval checkpoints; the last is the completion
    assert writes[-1] in ("synchronous", "after the call")


def test_the_copy_budget_is_read_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKLOOP_COPY_BUDGET", "0")
    kernel = checkpointed_loop(checkpoint_dir=tmp_path, interval=1.0)(swap_kernel)
    with injected(kernel, clock=Ticks(1.0)):
        kernel(fresh(), 200)
    assert set(kernel.last_report.writes[:-1]) == {"synchronous"}


def test_a_bad_copy_budget_is_refused_at_decoration():
    with pytest.raises(ValueError, match="copy_budget"):
        checkpointed_loop(copy_budget="lots")


def test_a_bad_gather_is_refused_at_decoration():
    with pytest.raises(ValueError, match="gather must be one of 'all', 'root', 'own', not 'rank0'"):
        checkpointed_loop(gather="rank0")
