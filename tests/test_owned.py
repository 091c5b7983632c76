"""Rows an iteration owns beyond its own index (transform/owned.py), from the source alone.

A block's bounds are recognised by what they compute: any spelling of blocks that start
where the one before ends counts, and blocks that overlap, skip or depend on what the loop
computes do not.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from blockloop.transform.owned import owned_rows, row_key


def _body(code: str) -> list[ast.stmt]:
    return ast.parse(textwrap.dedent(code)).body


@pytest.mark.parametrize(
    "bounds",
    [
        "b * m, (b + 1) * m",
        "b * m, b * m + m",
        "m * b, m * (b + 1)",
        "s + b * m, s + m * (b + 1)",
        "b * m - 3, (b + 1) * m - 3",
        "4 * b, 4 * b + 4",
    ],
)
def test_blocks_that_start_where_the_last_one_ended_are_owned(bounds):
    body = _body(f"for j in range({bounds}):\n    c = counts[j]\n    counts[j] = c + 1\n")
    assert "counts" in owned_rows(body, "b")


@pytest.mark.parametrize(
    "bounds",
    [
        "b * m, (b + 2) * m",  # each block runs into the next one
        "b * m, b * m + 2",  # blocks of two rows, m apart: equal only if m == 2
        "b * m, (b + 1) * k",  # another name for the end
        "b * b, (b + 1) * (b + 1) + 1",  # a polynomial that overlaps
        "b * m // 2, (b + 1) * m // 2",  # division: not followed
        "lo[b], lo[b + 1]",  # bounds read from data
    ],
)
def test_blocks_that_may_overlap_are_not(bounds):
    body = _body(f"for j in range({bounds}):\n    counts[j] = counts[j] + 1\n")
    assert "counts" not in owned_rows(body, "b")


def test_a_bound_the_loop_computes_is_not_followed():
    body = _body("m = x[b]\nfor j in range(b * m, (b + 1) * m):\n    counts[j] += 1\n")
    assert "counts" not in owned_rows(body, "b")


def test_a_block_variable_bound_twice_is_not_a_block():
    body = _body("for j in range(b * m, (b + 1) * m):\n    counts[j] = 1\nj = 0\ncounts[j] = 2\n")
    assert "counts" not in owned_rows(body, "b")


@pytest.mark.parametrize(
    ("row", "owned"),
    [("2 * i + 1", True), ("i * 3 - d", True), ("k * i", False), ("0 * i + 1", False)],
)
def test_one_row_c_i_plus_d_needs_a_nonzero_integer_c(row, owned):
    body = _body(f"x[{row}] = -x[{row}]\n")
    assert ("x" in owned_rows(body, "i")) is owned


def test_stores_at_different_rows_own_nothing():
    body = _body("x[2 * i + 1] = 0.0\nx[2 * i] = 1.0\n")
    assert owned_rows(body, "i") == {}
    assert row_key(body, "i", ast.parse("2 * i", mode="eval").body) is not None


@pytest.mark.parametrize(
    "stop",
    [
        "n if b + 1 == nb else start + m",
        "start + m if b + 1 < nb else n",
        "n if b == nb - 1 else start + m",
        "n if nb - 1 <= b else start + m",
        "start + m if b != nb - 1 else n",
        "min(start + m, n)",
        "min(n, (b + 1) * m)",
    ],
)
def test_a_block_that_ends_early_or_last_is_owned(stop):
    body = _body(
        f"start = b * m\nstop = {stop}\nfor j in range(start, stop):\n    counts[j] += 1\n"
    )
    assert "counts" in owned_rows(body, "b", _expr("nb"))


@pytest.mark.parametrize(
    ("stop", "loop_end"),
    [
        ("n if b == 2 else start + m", "nb"),  # block 2 runs over the blocks after it
        ("n if b + 1 == k else start + m", "nb"),  # not the loop's last iteration
        ("n if b + 2 == nb else start + m", "nb"),
        ("n if b >= nb - 2 else start + m", "nb"),
        ("n if b + 1 == nb else start + m", None),  # the loop's end is not known
        ("max(start + m, n)", "nb"),
        ("min(start + 2 * m, n)", "nb"),
    ],
)
def test_a_block_that_may_run_into_the_next_is_not(stop, loop_end):
    body = _body(
        f"start = b * m\nstop = {stop}\nfor j in range(start, stop):\n    counts[j] += 1\n"
    )
    end = None if loop_end is None else _expr(loop_end)
    assert "counts" not in owned_rows(body, "b", end)


def test_names_stand_for_what_they_compute_only_if_bound_once_before_the_loop():
    loop = "for j in range(start, stop):\n    counts[j] += 1\n"
    assert "counts" in owned_rows(_body("start = b * m\nstop = start + m\n" + loop), "b")
    twice = "start = b * m\nstart = start + 1\nstop = start + m\n"
    assert "counts" not in owned_rows(_body(twice + loop), "b")
    after = loop + "start = b * m\nstop = start + m\n"
    assert "counts" not in owned_rows(_body(after), "b")


def test_a_start_that_is_not_linear_is_not_a_block():
    # blocks [s(b), s(b + 1)) of a cubic s rise, fall and rise again over earlier rows
    s = "b * b * b - 9 * b * b"
    t = "(b + 1) * (b + 1) * (b + 1) - 9 * (b + 1) * (b + 1)"
    body = _body(f"for j in range({s}, {t}):\n    counts[j] += 1\n")
    assert "counts" not in owned_rows(body, "b")


def _expr(code: str) -> ast.expr:
    return ast.parse(code, mode="eval").body


@pytest.mark.parametrize(
    ("row", "owned"),
    [
        ("i * m + j", True),  # j walks range(m): the block i*m .. i*m + m
        ("j + m * i", True),
        ("m * i + j", True),
        ("i * (m + 1) + j", False),  # blocks m + 1 apart, m rows each: one row skipped
        ("i * m + j + 1", False),
    ],
)
def test_a_row_offset_by_an_inner_loop_variable_is_in_a_block(row, owned):
    body = _body(f"for j in range(m):\n    x[{row}] = x[{row}] + 1.0\n")
    assert ("x" in owned_rows(body, "i")) is owned


@pytest.mark.parametrize(
    ("piece", "owned"),
    [
        ("i * m : i * m + j", True),  # the rows the steps before this one wrote
        ("i * m : i * m + j + 1", False),  # not in the form of a part of the block
        ("i * m : i * m + m + j", False),
        ("i * m + 1 : i * m + j", False),
    ],
)
def test_a_slice_of_the_iterations_earlier_rows_is_its_own(piece, owned):
    body = _body(f"for j in range(m):\n    x[i * m + j] = x[{piece}].sum()\n")
    rows = owned_rows(body, "i")
    read = ast.parse(f"x[{piece}]", mode="eval").body
    assert isinstance(read, ast.Subscript)
    assert (row_key(body, "i", read.slice) == rows["x"]) is owned
