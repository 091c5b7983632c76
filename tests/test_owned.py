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
