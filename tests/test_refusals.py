"""Every refusal: a BlockingError (a SyntaxError) at the user's file and line, with a
message that says what to change."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from numba import njit

import blockloop
from blockloop import BlockingError, checkpointed_loop
from tests import refusal_cases as cases

FILE = inspect.getsourcefile(cases)
MARKS = {}
for number, line in enumerate(open(FILE).read().splitlines(), start=1):
    match = re.search(r"# refused: (.+)$", line)
    if match:
        MARKS[number] = match.group(1).strip()


def _expected(func) -> tuple[int, str]:
    lines, first = inspect.getsourcelines(func)
    for offset in range(len(lines)):
        if first + offset in MARKS:
            return first + offset, MARKS[first + offset]
    raise AssertionError(f"{func.__name__} has no '# refused:' mark")


BAD = [f for name, f in vars(cases).items() if name.startswith("bad_") and "allowed" not in name]
BAD.append(cases.make_bad_closure())


@pytest.mark.parametrize("func", BAD, ids=lambda f: f.__name__)
def test_refusal_points_at_the_line(func):
    line, phrase = _expected(func)
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(func)
    err = info.value
    assert isinstance(err, SyntaxError)
    assert err.filename == FILE
    assert err.lineno == line, f"{err.lineno} != {line}: {err.msg}"
    assert phrase in err.msg
    assert err.text is not None and err.text.strip()


def test_refusal_column_and_text():
    with pytest.raises(BlockingError) as info:
        checkpointed_loop(cases.bad_last)
    assert info.value.text.strip().startswith("last = i")
    assert info.value.offset == info.value.text.index("last") + 1


def test_uninitialised_accumulator_is_a_private_temporary():
    # `t` is bound inside the loop, so `t += 1.0` is a private update, not a reduction
    kernel = checkpointed_loop(cases.ok_private_update)
    assert kernel.plan.accumulators == ()


def test_np_random_after_a_seed_in_the_prologue_is_accepted():
    plan = checkpointed_loop(cases.ok_seeded_random_in_prologue).plan
    assert [a.name for a in plan.accumulators] == ["s"]


def test_inner_break_and_constant_closures_are_accepted():
    assert checkpointed_loop(cases.bad_break_allowed_in_inner_loop).plan.accumulators[0].name == "s"
    assert checkpointed_loop(cases.make_good_closure()).plan.accumulators[0].name == "s"


def test_a_helper_given_the_loops_index_reads_only_its_own_row(tmp_path):
    """``_insert_sorted(rows, i, v)`` reads and writes ``rows[i, ...]`` only: accepted,
    with plain numba's bits."""
    plain = njit(parallel=True)(cases.ok_helper_at_own_row)
    vals = np.random.default_rng(5).random((40, 9))
    want = plain(vals, np.full((40, 3), np.inf))
    kernel = checkpointed_loop(checkpoint_dir=tmp_path)(plain)
    assert kernel(vals, np.full((40, 3), np.inf)).tobytes() == want.tobytes()


def test_a_store_of_the_iterations_own_element_elsewhere_is_not_a_whole_read():
    plan = checkpointed_loop(cases.ok_mirrored_pairs).plan
    assert plan.kind == "reduction"


def test_blocking_error_is_public_and_a_syntax_error():
    assert issubclass(blockloop.BlockingError, SyntaxError)


def test_decorator_refuses_non_functions_and_double_use():
    with pytest.raises(TypeError, match="put it above @njit"):
        checkpointed_loop(42)
    k = checkpointed_loop(cases.make_good_closure())
    with pytest.raises(TypeError, match="twice"):
        checkpointed_loop(k)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("mtbf", "soon", "not a duration"),
        ("interval", -1, "positive"),
        ("keep", 0, "keep"),
        ("exit_code", 300, "exit_code"),
    ],
)
def test_bad_options_are_value_errors(option, value, match):
    with pytest.raises(ValueError, match=match):
        checkpointed_loop(**{option: value})
