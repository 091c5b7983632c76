"""Checkpoints written by blockloop 0.1.0 (manifest format 1) still resume, to the bits of
an uninterrupted run. The fixtures were written by that version and are never rewritten."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from blockloop import CheckpointWarning, checkpointed_loop
from tests import format1_kernels as k

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "format1"


@pytest.mark.parametrize(
    ("kernel", "args", "resumed_at"),
    [(k.f1_sum, k.sum_args, 10), (k.f1_steps, k.steps_args, 4)],
    ids=["reduction", "sequential"],
)
def test_a_format1_checkpoint_resumes(kernel, args, resumed_at, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(FIXTURES, old)
    resumed = checkpointed_loop(checkpoint_dir=old)(kernel)
    assert resumed.run_dir(*args()).is_dir()  # the run key of 0.1.0 is today's run key
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckpointWarning)
        got = resumed(*args())
    # a newer blockloop or numba is reported; nothing else may be
    assert all("other versions" in str(w.message) for w in caught), [str(w.message) for w in caught]
    assert resumed.last_report.resumed_from == resumed_at

    fresh = checkpointed_loop(checkpoint_dir=tmp_path / "new")(kernel)
    expected = fresh(*args())
    assert fresh.last_report.resumed_from is None
    assert np.array_equal(np.asarray(got), np.asarray(expected))
