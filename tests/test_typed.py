"""numba's typed view of a kernel decides what the syntax leaves open (issue 29).

A name bound from a helper's result, a conditional expression or a helper's tuple may be
a number or a view of an array; the source alone cannot tell, numba's type inference can.
"""

from __future__ import annotations

import inspect
import json

import numba
import numpy as np
import pytest

from blockloop import BlockingError, checkpointed_loop
from blockloop.transform import read_source
from blockloop.view import typed
from blockloop.view.blocked import block_alternatives
from blockloop.view.helpers import scope_of
from tests import typed_kernels as tk
from tests.helpers import bits as _bits
from tests.helpers import crashed_then_resumed

ACCEPTED = [
    "edge_attraction",
    "weighted_scores",
    "centred_mean",
    "scale_rows",
    "pair_count",
    "lagged_similarity",
    "ring_coupling",
]
FILE = inspect.getsourcefile(tk)


def _line(func, text: str) -> int:
    lines, first = inspect.getsourcelines(func)
    return first + next(k for k, line in enumerate(lines) if text in line)


@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_with_plain_numbas_bits(name, tmp_path):
    want_args = tk.inputs(name)
    want = getattr(tk, name)(*want_args)
    args = tk.inputs(name)
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(getattr(tk, name))
    got = kernel(*args)
    assert _bits(got) == _bits(want)
    assert [_bits(a) for a in args] == [_bits(a) for a in want_args]
    assert "analysed with numba's types for the arguments (array(float64" in kernel.blocked_source


def test_the_syntax_alone_refuses_and_decoration_waits_for_the_types(tmp_path):
    func = tk.peak_shift
    with pytest.raises(BlockingError) as info:  # a number updated in place, taken for a view
        block_alternatives(func.py_func, read_source(func), scope_of(func.py_func), {}, False)
    assert "writes" in info.value.msg
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(func)
    assert "provisional: the first call decides with numba's types" in kernel.blocked_source
    assert _bits(kernel(*tk.inputs("peak_shift"))) == _bits(func(*tk.inputs("peak_shift")))
    assert "provisional" not in kernel.blocked_source


@pytest.mark.parametrize("name", ["edge_attraction", "centred_mean"])
def test_a_helper_that_returns_numbers_is_read_from_its_source_at_decoration(name):
    """``d = squared_distance(a, b); d *= c`` and ``lo, hi = window(...); lo += 1``: the
    helpers return values they compute, not their arguments, so the syntax alone accepts."""
    func = getattr(tk, name)
    block_alternatives(func.py_func, read_source(func), scope_of(func.py_func), {}, False)
    assert "provisional" not in checkpointed_loop(func).blocked_source


def test_a_number_from_a_conditional_expression_is_not_state(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.weighted_scores)
    assert "weights" in kernel.plan.blocks  # the syntax: `w` may be a view of `weights`
    kernel(*tk.inputs("weighted_scores"))
    assert kernel.plan.blocks == ()  # numba: `w` is a float64
    assert kernel.last_report is not None


def test_a_view_returned_by_a_helper_stays_a_write(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.scale_rows)
    kernel(*tk.inputs("scale_rows"))
    assert kernel.plan.blocks == ("x",)  # numba: `row` is an array that may alias `x`


def test_a_race_through_a_helpers_view_is_refused_naming_both_lines(tmp_path):
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(checkpoint_dir=tmp_path)(tk.shifted_rows)(*tk.inputs("shifted_rows"))
    err = info.value
    assert err.filename == FILE
    assert err.lineno == _line(tk.shifted_rows, "out[i] = x[(i + 1)")
    assert "x[(i + 1) % x.shape[0], 0]" in err.msg and "reads `x`" in err.msg


@pytest.mark.parametrize(
    "name", ["edge_attraction", "scale_rows", "pair_count", "lagged_similarity", "ring_coupling"]
)
def test_killed_and_resumed_with_the_same_bits(name, tmp_path):
    crashed_then_resumed(getattr(tk, name), lambda: tk.inputs(name), tmp_path)


def test_a_function_defined_in_the_kernel_is_read_with_the_types_of_each_call(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.lagged_similarity)
    kernel(*tk.inputs("lagged_similarity"))
    assert kernel.plan.blocks == ("out",)  # `b` is read, not written: `b[j]` is a number
    with pytest.raises(BlockingError) as info:  # typed by its first call alone, it would pass
        checkpointed_loop(checkpoint_dir=tmp_path)(tk.added_through_a_row)(
            *tk.inputs("added_through_a_row")
        )
    assert info.value.lineno == _line(tk.added_through_a_row, "add_to(x2, 0, v[i])")
    assert "`x2`" in info.value.msg


def test_a_module_helper_is_read_with_the_types_of_the_kernels_own_calls(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.ring_coupling)
    assert "provisional" in kernel.blocked_source  # the syntax alone: a row updated in place
    kernel(*tk.inputs("ring_coupling"))
    assert kernel.plan.blocks == ()  # `theta` is read, not written: `_folded` gets numbers
    # the same helper, called by another helper with a row: that call is read untyped
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(checkpoint_dir=tmp_path)(tk.added_through_a_helper)(
            *tk.inputs("added_through_a_helper")
        )
    assert info.value.lineno == _line(tk.added_through_a_helper, "_add_to_first(x2, v[i])")
    assert "`x2`" in info.value.msg


def test_a_helper_is_typed_for_the_kernels_calls_whatever_else_compiled_it():
    tk._add_in_place(np.zeros((2, 3)), 0, 1.0)  # compiled in this process for a row too
    args = tk.inputs("added_in_place")
    func = tk.added_in_place
    argtypes = tuple(numba.typeof(a) for a in args)
    view = typed._infer(func.py_func, read_source(func), argtypes, {"parallel": True}, "sig")
    assert view.helpers["_add_in_place"].memory["r"] is False  # a number, for this kernel


def test_other_argument_types_are_analysed_again(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.weighted_scores)
    x, weights, scale, out = tk.inputs("weighted_scores")
    kernel(x, weights, scale, out)
    want_out, out32 = np.zeros(x.size, np.float32), np.zeros(x.size, np.float32)
    x32, weights32 = x.astype(np.float32), weights.astype(np.float32)
    tk.weighted_scores(x32, weights32, scale, want_out)
    kernel(x32, weights32, scale, out32)
    assert _bits(out32) == _bits(want_out)
    assert "array(float32, 1d, C)" in kernel.blocked_source


def test_the_view_says_what_numba_typed():
    func = tk.centred_mean
    view = typed.typed_view(func.py_func, read_source(func), tk.inputs("centred_mean"), {})
    assert view.typed
    assert view.plain("lo") and view.plain("hi") and view.plain("s") and view.plain("half")
    assert view.holds_memory("x") and view.ndim["x"] == 1 and view.ndim["out"] == 1


def test_the_view_is_kept_as_json_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKLOOP_CACHE_DIR", str(tmp_path))
    func, args = tk.centred_mean, tk.inputs("centred_mean")
    first = typed.typed_view(func.py_func, read_source(func), args, {})
    (kept,) = (tmp_path / "types").glob("centred_mean_*.json")
    assert json.loads(kept.read_text())["memory"]["lo"] is False

    def no_typing(*a):
        raise AssertionError("typed again")

    monkeypatch.setattr(typed, "_infer", no_typing)
    assert typed.typed_view(func.py_func, read_source(func), args, {}) == first
    kept.write_text("{not json")  # a damaged file is typed again, not trusted
    monkeypatch.undo()
    monkeypatch.setenv("BLOCKLOOP_CACHE_DIR", str(tmp_path))
    assert typed.typed_view(func.py_func, read_source(func), args, {}) == first
    assert json.loads(kept.read_text())["memory"]["lo"] is False


def test_the_types_of_a_function_defined_in_the_kernel_are_kept_with_the_view(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("BLOCKLOOP_CACHE_DIR", str(tmp_path))
    func, args = tk.lagged_similarity, tk.inputs("lagged_similarity")
    first = typed.typed_view(func.py_func, read_source(func), args, {})
    fill = first.helpers["fill"]  # typed for the call `fill(similarity, ai, i, b, out[i], ...)`
    assert fill.plain("bj") and fill.ndim["row"] == 1 and fill.ndim["b"] == 1
    monkeypatch.setattr(typed, "_infer", None)  # read back, not typed again
    assert typed.typed_view(func.py_func, read_source(func), args, {}) == first


def test_arguments_numba_cannot_type_leave_the_syntax_to_decide():
    func = tk.centred_mean
    view = typed.typed_view(func.py_func, read_source(func), (object(), 7, None), {})
    assert not view.typed and not view.plain("lo")


def test_a_typed_list_read_by_the_loop_is_fingerprinted_and_resumed(tmp_path):
    want = tk.series_norms(*tk.inputs("series_norms"))
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.series_norms)
    assert _bits(kernel(*tk.inputs("series_norms"))) == _bits(want)
    assert kernel.run_key(*tk.inputs("series_norms")) == kernel.run_key(*tk.inputs("series_norms"))
    other = tk.inputs("series_norms")
    other[0][4999][1, 3] += 1.0  # one element of the last series: another run
    assert kernel.run_key(*other) != kernel.run_key(*tk.inputs("series_norms"))
    crashed_then_resumed(tk.series_norms, lambda: tk.inputs("series_norms"), tmp_path / "kill")


def test_a_helpers_number_stored_into_an_array_of_numbers_does_not_alias_its_arguments(
    tmp_path,
):
    want = tk.series_gaps(*tk.inputs("series_gaps"))
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.series_gaps)
    assert _bits(kernel(*tk.inputs("series_gaps"))) == _bits(want)  # the List is not written
    assert kernel.plan.blocks == ("d",)


def test_a_typed_list_the_kernel_writes_is_refused_before_any_work(tmp_path):
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.centre_series)
    (series,) = tk.inputs("centre_series")
    before = [s.copy() for s in series]
    with pytest.raises(TypeError, match="typed List that the kernel may write into"):
        kernel(series)
    assert all((a == b).all() for a, b in zip(series, before, strict=True))
    assert not list(tmp_path.iterdir())


def test_a_store_into_a_lists_slot_writes_the_list_not_the_arrays_it_held(tmp_path):
    """``out[i] = codes`` replaces a slot of ``out``; the refusal names ``out``, never the
    typed List argument whose rows ``codes`` was cut from (issue 29, point 5)."""
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(tk.kept_codes)
    with pytest.raises(BlockingError, match="writes into `out`, a list") as refused:
        kernel(*tk.inputs("kept_codes"), 0.5)
    assert "series" not in str(refused.value)
    assert refused.value.lineno == _line(tk.kept_codes, "out[i] = codes")
    assert not list(tmp_path.iterdir())
    view = typed.typed_view(
        tk.kept_codes.py_func, read_source(tk.kept_codes), (*tk.inputs("kept_codes"), 0.5), {}
    )
    assert "out" in view.lists and "codes" not in view.lists  # also for lists a helper makes
