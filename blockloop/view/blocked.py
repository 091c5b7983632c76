"""A kernel analysed and rendered with the globals of one moment, for each combination of
the branches its arguments may choose."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .._errors import BlockingError
from .._version import __version__
from ..storage.fingerprint import check_closure, closure_values, digest, helpers_fingerprint
from ..transform import Rendered, analyse, joined_text, render_module
from ..transform.branches import Branch, branches, choices, take
from ..transform.inner import hoist
from ..transform.plans import LoopPlan, PhasedKernel, ReductionLoop
from ..transform.source import Source
from ..transform.syntax import names_loaded, parameters
from ..transform.types import UNKNOWN, NameTypes, optimistic
from .draws import refuse_hidden_draws
from .helpers import (
    call_writes,
    called_helpers,
    handed_functions,
    numpy_functions,
    prange_names,
    with_inner_functions,
    written_parameters,
)
from .instances import instance_arguments, refuse_written_instances
from .reads import refuse_hidden_reads

__all__ = [
    "Alternatives",
    "Blocked",
    "block_alternatives",
    "block_at_decoration",
    "block_kernel",
]


@dataclass(frozen=True)
class Blocked:
    """A kernel analysed and rendered with the globals of one moment.

    Attributes
    ----------
    plan : LoopPlan
        The analysis.
    phases : tuple of LoopPlan
        The plan's loops (one, unless the kernel has several).
    rendered : list of Rendered
        Each phase's generated module.
    text : str
        The generated modules as the user reads them (``blocked_source``).
    sampled : frozenset of str
        Arguments the kernel never writes, whose large arrays a run key may sample.
    source_key : str
        The kernel's part of a run key: its source, its helpers and globals, ``exact``.
    """

    plan: LoopPlan
    phases: tuple[LoopPlan, ...]
    rendered: list[Rendered]
    text: str
    sampled: frozenset[str]
    source_key: str
    generated: list = field(default_factory=list, compare=False)
    """Each phase's generated module once imported (filled by the kernel)."""


def block_kernel(
    func: types.FunctionType,
    source: Source,
    namespace: Mapping[str, object],
    numba_options: dict[str, object],
    exact: bool,
    chosen: tuple[int, ...] = (),
    types: NameTypes = UNKNOWN,
    arguments: Mapping[str, object] | None = None,
) -> Blocked:
    """Analyse and render ``func`` with the globals and helpers in ``namespace``.

    numba reads a kernel's globals when it first compiles it, so the decorator calls this
    at decoration (to refuse early) and again at the first call: a module constant filled
    in ``main()`` or a helper defined below the kernel are taken as they are then. Their
    values are part of the source key and of the generated modules' text (so of their file
    names): neither a checkpoint nor numba's disk cache made with other values is used.

    At the first call ``types`` are numba's types of the kernel's names for the call's
    argument types (see :mod:`blockloop.view.typed`), and ``arguments`` the call's values:
    a function handed in is analysed as the helper it is (what it writes, reads, draws);
    at decoration there are neither, and a call of a parameter may do anything.

    Raises
    ------
    BlockingError
        For a kernel that cannot be blocked, at the user's line.
    """
    namespace = with_inner_functions(source, namespace)
    types = dataclasses.replace(types, numpy_names=numpy_functions(namespace))
    handed = handed_functions(source, arguments or {})
    instances = instance_arguments(source, arguments or {})
    if handed or instances:  # the analyses resolve them as helpers; the generated module not
        namespace = {**namespace, **handed, **instances}
        types = dataclasses.replace(
            types, callables=frozenset(handed), instances=frozenset(instances)
        )
    writes = call_writes(namespace, types.helpers)
    refuse_written_instances(source, instances, writes, types)
    plan = analyse(source, prange_names(func), writes, chosen, types)

    def closure_error(name: str, reason: str) -> Exception:
        node = names_loaded([*plan.prologue, plan.loop, *plan.epilogue]).get(name)
        return source.error(node, reason)

    closure = closure_values(func)
    check_closure(closure_error, plan.globals_used, closure)
    refuse_hidden_draws(source, plan, namespace, types.callables | types.instances)
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    take(fn, branches(fn, parameters(fn), prange_names(func)), chosen)  # as in the plan
    hoist(fn, parameters(fn))  # its functions are helpers, as in the plan
    inspected = {  # loops whose reads are checked at each call, by line
        p.loop.lineno: frozenset(p.inspected.arrays)
        for p in (plan.phases if isinstance(plan, PhasedKernel) else (plan,))
        if isinstance(p, ReductionLoop) and p.inspected is not None
    }
    refuse_hidden_reads(source, fn, namespace, prange_names(func), writes, types, inspected)
    written = written_parameters(fn, writes, types)
    helpers = helpers_fingerprint(plan.globals_used, func.__globals__, closure)
    phases = plan.phases if isinstance(plan, PhasedKernel) else (plan,)
    for phase in phases:
        if isinstance(phase, ReductionLoop):
            phase.exact = exact
    rendered = [render_module(p, numba_options, helpers, __version__) for p in phases]
    marks = [*(["exact"] if exact else []), *(f"branch {k}" for k in chosen)]  # other runs
    return Blocked(
        plan=plan,
        phases=phases,
        rendered=rendered,
        text=joined_text(phases, [r.text for r in rendered]),
        sampled=frozenset(a for a in plan.args if a not in written),
        source_key=digest(source.text, plan.kind, helpers, *marks),
    )


@dataclass(frozen=True)
class Alternatives:
    """A kernel blocked for each combination of the branches it may take, as calls take
    them.

    Most kernels have one combination, ``()``. One that chooses its loops by an argument
    (``if method == 0: ... elif ...``), or tests an argument inside its loop, is analysed
    for the combination each call's arguments choose, once; a call is refused only if
    its combination cannot be blocked.
    """

    blocked: dict[tuple[int, ...], Blocked | BlockingError]
    tests: tuple[tuple[types.CodeType, ...], ...]
    make: Callable[[tuple[int, ...]], Blocked] | None = None
    """Analyses a combination not yet in ``blocked``."""
    found: tuple[Branch, ...] = ()

    def _of(self, chosen: tuple[int, ...]) -> Blocked | BlockingError:
        if chosen not in self.blocked and self.make is not None:
            try:
                self.blocked[chosen] = self.make(chosen)
            except BlockingError as exc:
                self.blocked[chosen] = exc
        return self.blocked[chosen]

    def first(self) -> Blocked:
        """The first combination that blocks (the decoration's view of the kernel), of
        the first :data:`TRIED`."""
        for chosen in itertools.islice(choices(self.found), TRIED):
            blocked = self._of(chosen)
            if isinstance(blocked, Blocked):
                return blocked
        raise next(iter(self.blocked.values()))  # type: ignore[misc]

    def choose(self, arguments: Mapping[str, object], scope: Mapping[str, object]) -> Blocked:
        """The combination these arguments take (its refusal, if it cannot be blocked)."""
        chosen = []
        values = {**scope, **arguments} if self.tests else {}  # globals of the tests' eval
        for tests in self.tests:
            chosen.append(next((k for k, t in enumerate(tests) if eval(t, values)), len(tests)))
        blocked = self._of(tuple(chosen))
        if isinstance(blocked, BlockingError):
            raise blocked
        return blocked

    def text(self) -> str:
        """The generated code of every combination analysed so far that blocks."""
        parts = [b.text for b in self.blocked.values() if isinstance(b, Blocked)]
        return parts[0] if len(parts) == 1 else "\n\n".join(parts)


TRIED = 16
"""Combinations of branches the decoration analyses, at most, looking for one that blocks
(a kernel none of them blocks is refused there; calls analyse the one they take)."""


def block_alternatives(
    func: types.FunctionType,
    source: Source,
    namespace: Mapping[str, object],
    numba_options: dict[str, object],
    exact: bool,
    types: NameTypes = UNKNOWN,
    arguments: Mapping[str, object] | None = None,
) -> Alternatives:
    """:func:`block_kernel` for the combinations of branches the kernel takes.

    Raises
    ------
    BlockingError
        If none of the first :data:`TRIED` combinations can be blocked.
    """
    fn = ast.parse(source.text).body[0]
    assert isinstance(fn, ast.FunctionDef)
    params = parameters(fn)
    found = branches(fn, params, prange_names(func))

    def make(chosen: tuple[int, ...]) -> Blocked:
        return block_kernel(func, source, namespace, numba_options, exact, chosen, types, arguments)

    tests = tuple(
        tuple(compile(ast.Expression(t), source.filename, "eval") for t in b.tests) for b in found
    )
    alternatives = Alternatives({}, tests, make, found)
    alternatives.first()  # refuse a kernel none of whose branches can be blocked
    return alternatives


def block_at_decoration(
    func: types.FunctionType,
    source: Source,
    namespace: Mapping[str, object],
    numba_options: dict[str, object],
    exact: bool,
) -> Alternatives:
    """:func:`block_alternatives` before numba's types are known.

    A kernel refused by the syntax alone, which names of numbers would make blockable
    (see :func:`~blockloop.transform.types.optimistic`), is not refused yet: its
    provisional plan stands until the first call, which decides with numba's types.

    Raises
    ------
    BlockingError
        If no combination can be blocked, whatever the types.
    """
    try:
        return block_alternatives(func, source, namespace, numba_options, exact)
    except BlockingError as refused:
        fn = ast.parse(source.text).body[0]
        assert isinstance(fn, ast.FunctionDef)
        called = {name: tree for name, (tree, _) in called_helpers(fn, namespace).items()}
        hopes = optimistic(fn, called)
        try:
            return block_alternatives(func, source, namespace, numba_options, exact, hopes)
        except BlockingError:
            raise refused from None
