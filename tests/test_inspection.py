"""Arrays whose indices each iteration computes (``a[j]`` and ``a[j + h]`` for a butterfly,
``x[i]`` and ``x[rev(i)]`` for a bit reversal): accepted with an inspection pass at each
call, which refuses the call where two iterations share an element that one writes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from blockloop import BlockingError, checkpointed_loop
from tests import inspected_kernels as ik
from tests.helpers import crashed_then_resumed, plain_bits_kept

ACCEPTED = [
    "walsh_stage",
    "bit_reversal",
    "quadrants_swapped",
    "gate_on_a_qubit",
    "magnitude_pairs",
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_with_plain_numbas_bits(name, tmp_path):
    plain_bits_kept(getattr(ik, name), lambda: ik.inputs(name), tmp_path)


@pytest.mark.parametrize("name", ACCEPTED)
def test_killed_and_resumed_with_the_same_bits(name, tmp_path):
    crashed_then_resumed(getattr(ik, name), lambda: ik.inputs(name), tmp_path)


def test_the_generated_code_says_what_it_inspects(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ik.walsh_stage)
    kernel(*ik.inputs("walsh_stage"))
    text = kernel.blocked_source
    assert "checked at each call by _bl_inspect" in text and "def _bl_inspect(" in text
    assert kernel.plan.inspected.arrays == ("a",)


def test_iterations_sharing_an_element_are_refused_at_the_call_and_nothing_is_touched(
    tmp_path,
):
    a, h, seen = ik.inputs("overlapping_pairs")
    before = a.copy()
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ik.overlapping_pairs)
    with pytest.raises(BlockingError) as info:
        kernel(a, h, seen)
    message = str(info.value)
    assert "iterations `k = 0` and `k = 64` both touch `a[64]`" in message
    assert "a race" in message and info.value.lineno is not None
    assert np.array_equal(a, before) and not seen.any()  # the pass wrote nothing
    assert not any(tmp_path.rglob("*.npz"))  # and nothing was saved


def test_a_row_read_at_a_computed_index_is_refused_naming_the_view(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ik.rows_by_index)
    with pytest.raises(BlockingError, match="a row at a time, a view"):
        kernel(*ik.inputs("rows_by_index"))


def test_an_index_past_the_end_is_an_index_error_before_anything_runs(tmp_path):
    (a,) = ik.inputs("pairs_past_the_end")
    before = a.copy()
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ik.pairs_past_the_end)
    with pytest.raises(IndexError, match=r"iteration `k = 500` indexes `a` outside its axis 0"):
        kernel(a)
    assert np.array_equal(a, before)


@pytest.mark.parametrize(
    "name", ["racy_overlapping_blocks", "racy_block_ending_elsewhere_before_the_last"]
)
def test_blocks_of_rows_that_overlap_are_refused_at_the_call_at_the_store(name, tmp_path):
    from numba import njit

    from tests import refusal_cases as cases

    func = getattr(cases, name)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(njit(parallel=True)(func))
    counts = np.zeros(64, dtype=np.int64)
    with pytest.raises(BlockingError) as info:
        kernel(np.zeros(64), counts)
    assert re.search(
        r"iterations `b = \d+` and `b = \d+` both touch `counts\[\d+\]`", info.value.msg
    )
    assert "counts[j] = c + 1" in info.value.text and not counts.any()


def test_a_pass_over_the_same_inputs_is_reused_and_other_inputs_are_inspected_again(tmp_path):
    """The verdict is kept by the values the pass reads (``order``'s bytes, the shapes of
    what the loop writes): the same order again needs no pass, another order or a scalar
    is inspected anew, and an order that names one element twice is still refused."""
    g = np.random.default_rng(3)
    a, w = g.standard_normal(300), g.standard_normal(300)
    order = g.permutation(300)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(ik.scaled_in_order)
    seen = []
    for k, sequence in enumerate([order, order.copy(), order[::-1], order]):
        want = a.copy()
        ik.scaled_in_order(want, sequence, w)
        kernel(a, sequence, w)
        assert a.tobytes() == want.tobytes(), k
        seen.append(kernel.last_report.inspection)
    assert seen == ["ran", "reused", "ran", "reused"]
    twice = order.copy()
    twice[7] = twice[200]
    with pytest.raises(BlockingError, match="both touch"):
        kernel(a, twice, w)
    state, q, held = ik.inputs("gate_on_a_qubit")
    gate = checkpointed_loop(checkpoint_dir=tmp_path / "gate")(ik.gate_on_a_qubit)
    runs = []
    for qubit in (q, q, q + 1):
        gate(state, qubit, held)
        runs.append(gate.last_report.inspection)
    assert runs == ["ran", "reused", "ran"]
