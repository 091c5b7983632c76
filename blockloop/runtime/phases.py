"""A kernel of several loops: its phases run one after another, each a run of its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..manifest import Identity
from ..report import Report
from ..store import Store
from ..transform import LoopPlan
from ..transform.syntax import names_stored
from .coordinator import Coordinator
from .driver import Driver
from .kinds import LoopKind
from .settings import RunSettings

__all__ = ["Phases"]


class Phases:
    """Runs the phases of a kernel in turn; each phase's checkpoints are in a directory
    of its own (``phase-1``, ``phase-2``, ...) under the run's.

    A phase that completed in an earlier call is not computed again: its driver finds
    the completion checkpoint and runs only the statements that hand its results on.
    The statements before each loop run again on a resume (as a single loop's prologue
    does), on the same values as the first time, so they give the same bits.

    Parameters
    ----------
    args : tuple of str
        The kernel's parameters.
    plans : sequence of LoopPlan
        One plan per phase; phase ``k``'s arguments are phase ``k - 1``'s ``hands_on``.
    kinds : sequence of callable
        For each phase, ``kind(values, report)`` makes its :class:`LoopKind`.
    store : callable
        ``store(dirname)`` gives the store factory of the phase directory ``dirname``.
    """

    def __init__(
        self,
        args: tuple[str, ...],
        plans: Sequence[LoopPlan],
        kinds: Sequence[Callable[[tuple, Report], LoopKind]],
        store: Callable[[str], Callable[[Identity], Store]],
    ) -> None:
        self.args = args
        self.plans = plans
        self.kinds = kinds
        self.store = store

    def run(
        self,
        values: tuple,
        coordinator: Coordinator,
        settings: RunSettings,
        identity: Identity,
        report: Report,
    ) -> object:
        """Run (or resume) every phase; the last phase's result.

        The report counts the units of every phase; ``phase`` is the one the call
        ended in.
        """
        count = len(self.plans)
        report.phases = count
        given = dict(zip(self.args, values, strict=True))
        already, total = True, 0
        stored: set[str] = set()
        result: object = None
        root = report.run_dir
        for k, (plan, make_kind) in enumerate(zip(self.plans, self.kinds, strict=True)):
            report.phase = k + 1
            if already:  # every phase before was complete: this call starts here
                report.resumed_from = None
            report.already_complete = False  # each phase's driver says it anew
            kind = make_kind(values, report)
            phase_settings = dataclasses.replace(settings, store=self.store(f"phase-{k + 1}"))
            ident = identity.with_loop(phase=k + 1, phases=count)
            try:
                result = Driver(kind, coordinator, phase_settings, ident, report).run()
            finally:
                report.run_dir = root  # the run's directory, not the phase's
            already = already and report.already_complete
            total += report.units_total
            stored |= set(names_stored([*plan.prologue, plan.loop]))
            if k + 1 < count:
                # an argument no statement rebinds goes on as the caller's object (numba
                # returns a namedtuple as a plain tuple, an array as a new view)
                assert isinstance(result, tuple)
                values = tuple(
                    given[name] if name in given and name not in stored else value
                    for name, value in zip(plan.hands_on, result, strict=True)
                )
        report.already_complete = already
        report.units_total = total
        return result
