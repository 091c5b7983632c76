"""The transformer: analyse -> rewrite -> render, pure functions of source text.

Nothing in this package imports numba; :mod:`blockloop.compile` turns the rendered text
into compiled functions.
"""

from .analyse import analyse
from .plans import Accumulator, LoopPlan, ReductionLoop, SequentialLoop
from .render import epilogue_inputs, render
from .source import Source, read_source

__all__ = [
    "Accumulator",
    "LoopPlan",
    "ReductionLoop",
    "SequentialLoop",
    "Source",
    "analyse",
    "epilogue_inputs",
    "read_source",
    "render",
]
