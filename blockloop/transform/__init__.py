"""The transformer: analyse -> rewrite -> render, pure functions of source text.

Nothing in this package imports numba; :mod:`blockloop.numerics.compile` turns the rendered text
into compiled functions.
"""

from .analyse import analyse
from .plans import Accumulator, LoopPlan, PhasedKernel, ReductionLoop, SequentialLoop
from .render import Rendered, joined_text, render, render_module
from .source import Source, read_source

__all__ = [
    "Accumulator",
    "LoopPlan",
    "PhasedKernel",
    "ReductionLoop",
    "Rendered",
    "SequentialLoop",
    "Source",
    "analyse",
    "joined_text",
    "read_source",
    "render",
    "render_module",
]
