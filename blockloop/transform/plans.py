"""The plans the analyses produce and the renderers consume: what a kernel's loop is.

Plain data: no analysis and no rendering here.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

from .inspection import Inspection
from .source import Source
from .split import SplitPlan
from .syntax import names_stored, walk

__all__ = [
    "Accumulator",
    "LoopPlan",
    "PhasedKernel",
    "ReductionLoop",
    "RowUpdate",
    "SequentialLoop",
]


@dataclass(frozen=True)
class Accumulator:
    """One reduction variable of the loop.

    ``indexed`` accumulators are arrays updated element-wise (``h[k] += e``); the others
    are scalars or whole arrays (``s += e``), told apart only at run time.
    """

    name: str
    op: str
    indexed: bool
    line: int


@dataclass(frozen=True)
class RowUpdate:
    """An update that writes into ``name`` only if it has more than ``rows`` dimensions.

    ``t = x[i]; t += 1.0`` changes a number when ``x`` is 1-D and a row of ``x`` in place
    when it is 2-D; which one is known once the kernel's values exist, so the run decides
    then whether ``x`` is saved (as blocks) with the loop's state.
    """

    name: str
    rows: int
    line: int
    carried_read: str = ""
    """Why the loop is refused if ``name`` turns out to be written: the message for its
    first read at another iteration's index (empty if it has none)."""
    read_line: int = 0


@dataclass
class LoopPlan:
    """What both loop kinds know: ``prologue; for index in func(*bounds): body; epilogue``.

    ``carry`` is what the prologue hands on to the loop and the epilogue; ``globals_used``
    the module names the kernel reads (helpers, constants), for its fingerprint.
    """

    source: Source
    name: str
    args: tuple[str, ...]
    prologue: list[ast.stmt]
    loop: ast.For | ast.While
    body: list[ast.stmt]
    epilogue: list[ast.stmt]
    index: str
    bounds: tuple[ast.expr, ...]
    carry: tuple[str, ...]
    epilogue_inputs: tuple[str, ...]
    globals_used: frozenset[str]
    hands_on: tuple[str, ...] = field(default=(), kw_only=True)
    notes: tuple[str, ...] = field(default=(), kw_only=True)
    """What the generated code does differently from the source, said in its header."""
    inner: tuple[ast.FunctionDef, ...] = field(default=(), kw_only=True)
    """Functions defined in the kernel, compiled beside it (see
    :mod:`~blockloop.transform.inner`)."""
    exits: ast.FunctionDef | None = field(default=None, kw_only=True)
    """``_bl_exits``, the test for early returns before the loop (see
    :mod:`~blockloop.transform.exits`), in the first phase's plan; None without them."""

    kind = "loop"

    @property
    def line(self) -> int:
        """The user's line of the checkpointed loop."""
        return self.source.line_of(self.loop)

    def store_line(self, name: str) -> int:
        """The user's line of the loop's first store into ``name`` (``name[i] = ...``),
        or the loop's line if it has none."""
        return self.source.line_of(self.store_node(name))

    def store_node(self, name: str) -> ast.AST:
        """The loop's first store into ``name``, or the loop if it has none."""
        for node in walk(self.body):
            if isinstance(node, (ast.Subscript, ast.Attribute)) and not isinstance(
                node.ctx, ast.Load
            ):
                base = node.value
                while isinstance(base, (ast.Subscript, ast.Attribute)):
                    base = base.value
                if isinstance(base, ast.Name) and base.id == name:
                    return node
        return self.loop

    @functools.cached_property
    def prologue_binds(self) -> frozenset[str]:
        """The names the prologue binds (read at every call: computed once)."""
        return frozenset(names_stored(self.prologue))


@dataclass
class ReductionLoop(LoopPlan):
    """A function whose body is ``prologue; for i in prange(...): body; epilogue``.

    Besides its reduction ``accumulators``, the loop may write outer arrays: ``maps`` only
    at the loop's own index (``out[i] = ...``, ``out[i, j] += ...``), saved a segment of
    finished rows at a time; ``blocks`` in any other way (a helper, a view, ``out=``,
    ``out[perm[i]]``), saved whole by changed blocks. ``row_updates`` join ``blocks`` when
    the array has more dimensions than the update has indices.
    """

    accumulators: tuple[Accumulator, ...] = ()
    chunk_inputs: tuple[str, ...] = ()
    row_updates: tuple[RowUpdate, ...] = ()
    maps: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    inspected: Inspection | None = None
    """Blocks whose every access the loop computes from what it does not write: checked
    at each call by a pass over the indices (:mod:`~blockloop.transform.inspection`)."""
    exact: bool = False
    """Sum float ``+=``/``-=`` accumulators exactly (the decorator's ``exact=True``)."""

    kind = "reduction"


@dataclass
class SequentialLoop(LoopPlan):
    """A function whose body is ``prologue; for t in range(...): body; epilogue``.

    Attributes
    ----------
    state : tuple of str
        Names defined before the loop that the body rebinds (``a, b = b, a + b``) or may
        write into (``u[i] = ...``, passing ``u`` to a helper): saved at each checkpoint.
    invariants : tuple of str
        Names defined before the loop that the body only reads.
    condition : ast.expr or None
        The test of a ``while`` loop (then ``bounds`` is empty and the index blockloop's).
    stops : bool
        Whether the loop may end before its range does (``while``, or ``break``).
    step : list of ast.stmt
        The body as the generated steps run it: prange reductions tiled and folded in a
        fixed order, ``break`` of the loop flagged.
    carry : tuple of str
        What the prologue hands on: the invariants and what only the epilogue reads.
    epilogue_inputs : tuple of str
        Names the statements after the loop read.
    split : SplitPlan
        How the steps split over MPI ranks by rows, or why they do not.
    """

    state: tuple[str, ...] = ()
    invariants: tuple[str, ...] = ()
    parallel: bool = False
    bindings: dict[str, int] = field(default_factory=dict)
    condition: ast.expr | None = None
    stops: bool = False
    step: list[ast.stmt] = field(default_factory=list)
    split: SplitPlan = field(default_factory=SplitPlan)

    kind = "sequential"


@dataclass
class PhasedKernel(LoopPlan):
    """A kernel of several top-level loops (phases), run one after another.

    Each phase is a plan of its own whose arguments are the values live before its
    statements; every phase but the last ends by returning, as a tuple, the values named
    by its ``hands_on`` (what later code reads), which are the next phase's arguments.
    The fields inherited from :class:`LoopPlan` describe the first phase; ``epilogue``
    holds the statements of the later phases, for messages.
    """

    phases: tuple[LoopPlan, ...] = ()

    kind = "phases"
