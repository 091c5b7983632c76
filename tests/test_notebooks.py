"""The tutorial notebooks run from a clean checkout and draw their plots."""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
DOCS_COPIES = NOTEBOOKS.parent / "docs" / "notebooks"  # read by docs/conf.py
# notebook -> (figures it must draw, phrases its printed output must contain)
EXPECT = {
    "01_quickstart.ipynb": (1, ["interrupted:", "resumed at tile", "True True", "stack_total"]),
    "02_choosing_the_interval.ipynb": (2, ["write cost δ =", "simulated"]),
    "03_exact_results.ipynb": (
        2,
        [
            "identical: True",
            "lost by blockloop: 0",
            re.compile(r"plain numba lost [1-9]\d* updates on try \d+"),  # the race, shown
            "blockloop:",
            "blockloop identical: True",
            "exact equals math.fsum: True",
        ],
    ),
    "04_at_scale.ipynb": (
        1,
        ["identical: True", "--signal=B:USR1@", "result identical to plain numba: True"],
    ),
}


def _png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")


# Run first, before the notebook imports matplotlib: a hook that looks at every open figure
# after each cell, before the inline backend (registered later, so called later) closes them.
_WATCH = """
_bl_empty, _bl_figures = [], []
def _bl_check():
    import sys
    plt = sys.modules.get("matplotlib.pyplot")
    for n in plt.get_fignums() if plt else []:
        axes = plt.figure(n).axes
        _bl_figures.append(n)
        _bl_empty.extend(f"figure {n}, axes {i}" for i, ax in enumerate(axes) if not ax.has_data())
get_ipython().events.register("post_execute", _bl_check)
"""
_REPORT = 'print(f"figures with data: {len(_bl_figures)}; empty axes: {_bl_empty}")'


def _one_output_per_bar(outputs: list, at_least: int) -> None:
    """Each call's progress is one output replaced in place: no output per refresh, and no
    tqdm text bar written to the stream (which Jupyter keeps as a new output each time)."""
    bars = [
        o["metadata"]["blockloop"]["progress"]
        for o in outputs
        if "blockloop" in o.get("metadata", {})
    ]
    assert len(bars) == len(set(bars)) >= at_least, bars
    streamed = [o["text"] for o in outputs if o.get("output_type") == "stream"]
    assert not any("\r" in t or "ckpt]" in t for t in streamed), streamed


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_notebook_executes_and_plots(name, monkeypatch):
    monkeypatch.delenv("BLOCKLOOP_PROGRESS", raising=False)  # bars as a user sees them
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stripped
    nb.cells.insert(0, nbformat.v4.new_code_cell(_WATCH))
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT))
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    ours = sorted(Path(tempfile.gettempdir()).glob("blockloop-nb*"))  # other runs' dirs
    client.execute()
    left = sorted(Path(tempfile.gettempdir()).glob("blockloop-nb*"))
    assert left == ours, "the notebook's last cell removes its checkpoint directory"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    figures, phrases = EXPECT[name]
    assert len(images) >= figures
    for png in images:
        width, height = _png_size(png)
        assert width > 200 and height > 100
    text = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    for phrase in phrases:
        found = phrase.search(text) if isinstance(phrase, re.Pattern) else phrase in text
        assert found, f"{phrase!r} not in the output of {name}"
    _one_output_per_bar(outputs, at_least=1 if name == "01_quickstart.ipynb" else 0)
    checked = nb.cells[-1].outputs[0]["text"]
    assert checked.endswith("empty axes: []\n"), checked  # every figure has data in it
    assert int(checked.split(":")[1].split(";")[0]) >= figures
    # the documentation renders this run rather than running the notebook again
    nb.cells = nb.cells[1:-1]
    DOCS_COPIES.mkdir(exist_ok=True)
    nbformat.write(nb, DOCS_COPIES / name)
