"""The documentation covers the public API: every public name has a place in the API
reference (whose numpydoc docstrings the docs build validates, warnings as errors)."""

from __future__ import annotations

import re
from pathlib import Path

import blockloop
import blockloop.random

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _documented() -> set[str]:
    text = (DOCS / "api.md").read_text()
    return set(re.findall(r"^\.\. auto(?:function|class|exception):: ([\w.]+)", text, re.M))


def test_every_public_name_is_in_the_api_reference():
    public = {f"blockloop.{n}" for n in blockloop.__all__ if not n.startswith("_")}
    public |= {f"blockloop.random.{n}" for n in blockloop.random.__all__}
    assert public - _documented() == set()


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text() + (DOCS / "notebooks.md").read_text()
    pages = {
        str(p.relative_to(DOCS).with_suffix(""))
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts and p.name != "index.md"
    }
    notebooks = {f"notebooks/{p.stem}" for p in (DOCS.parent / "notebooks").glob("*.ipynb")}
    listed = set(re.findall(r"^([\w/-]+)$", index, re.M))
    assert (pages | notebooks) - listed == set()


def test_the_development_page_lists_every_module_of_the_tree():
    package = DOCS.parent / "blockloop"
    tree = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    text = (DOCS / "development.md").read_text()
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", text, re.M))
    assert listed == tree
