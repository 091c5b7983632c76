"""Golden tests for the transformer: source in, generated module out.

Set ``BLOCKLOOP_UPDATE_GOLDEN=1`` to rewrite the expected files after a deliberate change
(and review the diff).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from blockloop.transform import Source, analyse, render

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.glob("*.py") if not p.name.endswith(".blocked.py"))


def _kernel_source(path: Path) -> Source:
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    lines = path.read_text().splitlines(keepends=True)
    text = "".join(lines[fn.lineno - 1 : fn.end_lineno])
    return Source(text=text, filename=path.name, first_line=fn.lineno)


def _normal(text: str) -> str:
    return ast.unparse(ast.parse(text))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case: Path):
    generated = render(analyse(_kernel_source(case)), {"fastmath": True}, "HELPERS", "VERSION")
    expected_path = case.with_suffix(".blocked.py")
    if os.environ.get("BLOCKLOOP_UPDATE_GOLDEN") == "1":
        expected_path.write_text(generated)
    assert _normal(generated) == _normal(expected_path.read_text())


def test_generated_code_is_valid_python_and_names_the_user_line():
    case = GOLDEN / "pi.py"
    text = render(analyse(_kernel_source(case)), {}, "HELPERS", "VERSION")
    compile(text, "generated", "exec")
    assert "from pi.py, line 8" in text  # the prange loop's line in the golden file
    assert "helpers: HELPERS" in text
