"""Shapes that plain numba runs race-free and blockloop now accepts (issue 29), each with
plain numba's bits; and a write it used to miss (a ufunc's positional output)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from blockloop import BlockingError, checkpointed_loop
from tests import coverage_kernels as ck
from tests.helpers import bits as _bits
from tests.helpers import crashed_then_resumed, plain_bits_kept

NAMES = [
    "nested_prange",
    "declared_up_front",
    "csr_row_sums",
    "scaled_by_int",
    "ufunc_of_elements",
    "seeded_draws",
    "seeded_pairs",
    "ufunc_with_positional_out",
    "pair_rows",
    "strided_residues",
    "distinct_partners",
    "closest_candidates",
    "per_sample_scaled",
    "set_scores",
    "transit_models",
    "batch_counts",
    "batch_kicks",
    "flattened_fluxes",
    "interval_sums",
    "leaf_updates",
    "shared_neighbours",
    "range_made_before",
    "channel_moments",
    "momentum_step",
    "column_recurrence",
    "set_overlaps",
    "keyword_rows",
    "by_dimensions",
]


@pytest.mark.parametrize("name", NAMES)
def test_accepted_with_plain_numbas_bits(name, tmp_path):
    plain_bits_kept(getattr(ck, name), lambda: ck.inputs(name), tmp_path)


def test_a_nested_prange_runs_as_range_and_the_generated_code_says_so():
    text = checkpointed_loop(ck.nested_prange).blocked_source
    assert "a prange inside a prange runs as range, as numba runs it" in text
    assert "for j in range(x.shape[1])" in text and "for j in prange" not in text


def test_a_ufuncs_positional_output_is_a_write():
    plan = checkpointed_loop(ck.ufunc_with_positional_out).plan
    assert "out" in plan.blocks


@pytest.mark.parametrize(
    "name",
    [
        "ufunc_with_positional_out",
        "seeded_draws",
        "seeded_pairs",
        "csr_row_sums",
        "strided_residues",
        "distinct_partners",
        "per_sample_scaled",
        "set_scores",
        "transit_models",
        "batch_counts",
        "batch_kicks",
        "flattened_fluxes",
        "interval_sums",
        "range_made_before",
        "channel_moments",
        "column_recurrence",
        "keyword_rows",
        "by_dimensions",
    ],
)
def test_killed_and_resumed_with_the_same_bits(name, tmp_path):
    crashed_then_resumed(getattr(ck, name), lambda: ck.inputs(name), tmp_path)


def test_loops_chosen_by_an_argument_take_the_branch_of_each_call(tmp_path):
    x = ck.inputs("declared_up_front")[0]
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.by_method)
    for method in (0, 1, 0):
        assert _bits(kernel(x, method)) == _bits(ck.by_method(x, method))
        assert f"if method == {method}" in "".join(kernel.plan.notes)
    assert kernel.run_key(x, 0) != kernel.run_key(x, 1)
    assert "takes the branch `if method == 0`" in kernel.blocked_source
    assert "takes the branch `if method == 1`" in kernel.blocked_source


def test_a_branch_without_a_loop_is_refused_when_a_call_takes_it(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.by_method)
    x = ck.inputs("declared_up_front")[0]
    with pytest.raises(BlockingError) as info:
        kernel(x, 2)
    assert "no top-level loop" in info.value.msg
    assert _bits(kernel(x, 1)) == _bits(ck.by_method(x, 1))


def test_a_reduction_arrays_shape_read_in_the_loop_is_not_a_partial_read(tmp_path):
    # plain numba races on `hist[b] += e` (lost updates): the reference is its serial build
    energies, edges = ck.inputs("bounded_histogram")
    want = njit(ck.bounded_histogram.py_func)(energies, edges)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.bounded_histogram)
    assert _bits(kernel(energies, edges)) == _bits(want)
    assert [a.name for a in kernel.plan.accumulators] == ["hist"]


def test_a_chained_store_finds_its_row_and_reads_nothing(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.pair_rows)
    kernel(*ck.inputs("pair_rows"))
    assert kernel.plan.blocks == ("pairs",)  # written through `pairs[r]`, saved whole


def test_a_range_made_before_the_loop_and_used_otherwise_is_named(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.range_measured)
    with pytest.raises(TypeError, match=r"makes `columns`, before its loop") as info:
        kernel(np.ones((100, 5)))  # numba cannot return a range: never a SystemError
    assert "make it inside the loop" in str(info.value)


def test_a_name_bound_only_under_a_test_the_arguments_decide_is_the_iterations_own(tmp_path):
    x = np.random.default_rng(3).standard_normal((400, 30))
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ck.normalised_rows)
    for mode in (1, 2, 3, 2):
        assert _bits(kernel(x, mode, 0.5)) == _bits(ck.normalised_rows(x, mode, 0.5))
        assert kernel.last_report.complete
