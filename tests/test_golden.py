"""Golden tests for the transformer: source in, generated module out, compared as text.

One case per renderer: reductions (``pi``, ``operators``, ...), exact sums (a first line
``# golden: exact``), time and convergence loops (``heat_steps``, ``until_small``) and
kernels of several loops (``scale_then_total``). Set ``BLOCKLOOP_UPDATE_GOLDEN=1`` to
rewrite the expected files after a deliberate change
(and review the diff).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from blockloop.transform import PhasedKernel, Source, analyse, joined_text, render

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p for p in GOLDEN.glob("*.py") if not p.name.endswith(".blocked.py"))


def _kernel_source(path: Path) -> Source:
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    lines = path.read_text().splitlines(keepends=True)
    text = "".join(lines[fn.lineno - 1 : fn.end_lineno])
    return Source(text=text, filename=path.name, first_line=fn.lineno)


def _generated(case: Path) -> str:
    plan = analyse(_kernel_source(case))
    phases = plan.phases if isinstance(plan, PhasedKernel) else (plan,)
    for phase in phases:
        phase.exact = case.read_text().startswith("# golden: exact")  # type: ignore[attr-defined]
    texts = [render(p, {"fastmath": True}, "HELPERS", "VERSION") for p in phases]
    return joined_text(phases, texts)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case: Path):
    generated = _generated(case)
    expected_path = case.with_suffix(".blocked.py")
    if os.environ.get("BLOCKLOOP_UPDATE_GOLDEN") == "1":
        expected_path.write_text(generated)
    assert generated == expected_path.read_text()


def test_every_renderer_has_a_golden_case():
    kinds = {type(analyse(_kernel_source(case))).__name__ for case in CASES}
    assert kinds == {"ReductionLoop", "SequentialLoop", "PhasedKernel"}
    assert any(case.read_text().startswith("# golden: exact") for case in CASES)


def test_generated_code_is_valid_python_and_names_the_user_line():
    case = GOLDEN / "pi.py"
    text = render(analyse(_kernel_source(case)), {}, "HELPERS", "VERSION")
    compile(text, "generated", "exec")
    assert "from pi.py, line 8" in text  # the prange loop's line in the golden file
    assert "helpers: HELPERS" in text
