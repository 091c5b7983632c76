"""Sphinx configuration: the Markdown pages, the notebooks (executed at build) and the API
reference from numpydoc docstrings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))

import blockloop  # noqa: E402

project = "blockloop"
author = "the blockloop developers"
copyright = "2026, the blockloop developers"
version = release = blockloop.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
]
exclude_patterns = ["_build", "jupyter_execute"]
html_theme = "pydata_sphinx_theme"
html_title = "blockloop"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "substitution"]
myst_substitutions = {"version": release}
nb_execution_mode = "force"  # every notebook the tests have not just run (_copy_notebooks)
nb_execution_timeout = 300
nb_execution_raise_on_error = True

autodoc_typehints = "none"  # the numpydoc sections say the types
autodoc_preserve_defaults = True  # signals=DEFAULT_SIGNALS, not signals=(2, 15, 10, 12)
numpydoc_show_class_members = False
numpydoc_validation_checks = {"all", "ES01", "EX01", "SA01", "SS05", "GL08", "RT02", "YD01"}
"""Every check but the extended summary, examples, see also, the summary's verb form,
undocumented private objects, return names, and yields: a missing parameter, a wrong type
section or an undocumented return fails the build."""
numpydoc_validation_overrides = {"PR01": [r"not constructed directly"]}
"""Classes that only blockloop makes list what they hold (Attributes), not how to make them."""


def _copy_notebooks() -> list[str]:
    """Copy the tutorial notebooks from ``notebooks/`` (Sphinx reads sources under
    ``docs/``); return the copies already executed, which the build need not run again.

    A copy newer than its source is kept: the notebook tests leave the notebooks they ran
    there, with their outputs, so CI runs each notebook once.
    """
    target = DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    executed = []
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        copy = target / nb.name
        if not copy.exists() or copy.stat().st_mtime < nb.stat().st_mtime:
            shutil.copyfile(nb, copy)
        else:
            executed.append(f"notebooks/{nb.name}")
    return executed


nb_execution_excludepatterns = _copy_notebooks()
