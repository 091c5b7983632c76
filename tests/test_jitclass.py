"""jitclass instances handed to a kernel (issue 29): read through their fields and
methods, accepted with plain numba's bits and resumed after a crash; written, refused."""

from __future__ import annotations

import numpy as np
import pytest
from numba import float64

from blockloop import BlockingError, checkpointed_loop
from blockloop.storage.fingerprint import helpers_fingerprint
from tests import jitclass_kernels as jk
from tests.helpers import crashed_then_resumed, plain_bits_kept


@pytest.mark.parametrize("name", ["centred_rows", "weighted_rows"])
def test_methods_of_an_instance_the_kernel_reads_give_plain_numbas_bits(name, tmp_path):
    plain_bits_kept(getattr(jk, name), lambda: jk.inputs(name), tmp_path)


def test_a_kernel_given_an_instance_is_resumed_after_a_crash(tmp_path):
    crashed_then_resumed(jk.centred_rows, lambda: jk.inputs("centred_rows"), tmp_path)


def test_an_instance_is_part_of_the_run_key_by_its_fields(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(jk.weighted_rows)
    mat, weights = jk.inputs("weighted_rows")
    assert kernel.run_key(mat, weights) == kernel.run_key(*jk.inputs("weighted_rows"))
    mat.values[5] += 1.0  # the same instance, one field changed
    assert kernel.run_key(mat, weights) != kernel.run_key(*jk.inputs("weighted_rows"))


@pytest.mark.parametrize(
    ("name", "line", "words"),
    [
        ("rescaled", "splitter.rescale(i)", "writes into the fields of `splitter`"),
        ("jittered", "splitter.jitter(i)", "splitter.jitter -> numpy.random.random"),
    ],
)
def test_an_instance_written_or_drawing_in_a_method_is_refused(name, line, words, tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(getattr(jk, name))
    before = jk.inputs(name)[0].partition.copy()
    splitter, n = jk.inputs(name)
    with pytest.raises(BlockingError, match=r"jitclass|per-thread") as info:
        kernel(splitter, n)
    assert line in str(info.value) and words in str(info.value)
    assert np.array_equal(splitter.partition, before)  # refused before anything ran


def test_a_jitclass_a_kernel_makes_is_keyed_by_its_fields_and_methods():
    float64_class = jk._csr_class(float64)  # the same name and methods, other field types
    assert repr(float64_class) == repr(jk.CSRMatrix32)
    keys = {helpers_fingerprint({"M"}, {"M": c}, {}) for c in (jk.CSRMatrix32, float64_class)}
    assert len(keys) == 2
