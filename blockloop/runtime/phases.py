"""A kernel of several loops: its phases run one after another, each a run of its own."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from .._errors import CheckpointWarning, warn
from ..report import Report
from ..storage.manifest import Identity
from ..storage.store import Store
from ..transform import LoopPlan
from ..transform.syntax import names_stored
from .coordinator import Coordinator
from .driver import Driver
from .handoff import Handoff
from .kinds import LoopKind
from .settings import RunSettings

__all__ = ["Phases"]

log = logging.getLogger(__name__)


class Phases:
    """Runs the phases of a kernel in turn; each phase's checkpoints are in a directory
    of its own (``phase-1``, ``phase-2``, ...) under the run's.

    A phase that completed in an earlier call is not run again, nor are the statements
    before its loop: the newest handoff (:mod:`.handoff`) gives back what that phase handed
    on and the arguments' contents, which stand for every phase up to it. Where there is no
    usable handoff (a value that could not be saved exactly, a crash between the phase's
    end and the handoff), a phase's driver finds its completion checkpoint and runs only
    the statements before the loop and those that hand its results on. The statements
    before the loop of the phase that was interrupted run again on a resume (as a single
    loop's prologue does), on the same values as the first time, so they give the same bits.

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
    written : frozenset of str
        The parameters the kernel may write: their contents are part of each handoff.
    """

    def __init__(
        self,
        args: tuple[str, ...],
        plans: Sequence[LoopPlan],
        kinds: Sequence[Callable[[tuple, Report], LoopKind]],
        store: Callable[[str], Callable[[Identity], Store]],
        written: frozenset[str],
    ) -> None:
        self.args = args
        self.plans = plans
        self.kinds = kinds
        self.store = store
        self.written = written

    def run(
        self,
        values: tuple,
        coordinators: Callable[[LoopPlan], Coordinator],
        settings: RunSettings,
        identity: Identity,
        report: Report,
    ) -> object:
        """Run (or resume) every phase; the last phase's result.

        ``coordinators(plan)`` gives each phase's coordinator: over MPI ranks, each phase
        spreads as its own loop would, and the ranks check that they resume at the same
        phase. The report counts the units of every phase; ``phase`` is the one the call
        ended in.
        """
        started = settings.clock()
        count = len(self.plans)
        report.phases = count
        given = dict(zip(self.args, values, strict=True))
        root = report.run_dir
        idents = [identity.with_loop(phase=k + 1, phases=count) for k in range(count)]
        handoffs = [Handoff(Path(root) / f"phase-{k + 1}", idents[k]) for k in range(count - 1)]
        first, total = 0, 0
        for k in reversed(range(count - 1)):  # the newest handoff stands for all before it
            restored = handoffs[k].load(given, self.written)
            if restored is not None:
                log.debug("%s: phases 1 to %d given back by a handoff", self.plans[k].name, k + 1)
                first, values, total = k + 1, restored.values, restored.total
                break
        coordinator = coordinators(self.plans[first])
        coordinator.same_everywhere(root, "phases to resume at", first)
        stored: set[str] = set()
        for plan in self.plans[:first]:
            stored |= set(names_stored([*plan.prologue, plan.loop]))
        already = True
        result: object = None
        resumed: tuple[int, int] | None = None  # the phase and unit this call resumed at
        for k in range(first, count):
            plan, make_kind = self.plans[k], self.kinds[k]
            report.phase = k + 1
            if already:  # every phase before was complete: this call starts here
                report.resumed_from = None
            report.already_complete = False  # each phase's driver says it anew
            stored |= set(names_stored([*plan.prologue, plan.loop]))
            kind = make_kind(values, report)
            if k > first:
                coordinator = coordinators(plan)
            store, last = self.store(f"phase-{k + 1}"), k == count - 1
            # a later phase reads this one's whole result on every rank
            phase_settings = dataclasses.replace(
                settings, store=store, gather=settings.gather if last else "all"
            )
            try:
                result = Driver(kind, coordinator, phase_settings, idents[k], report).run()
            finally:
                report.run_dir = root  # the run's directory, not the phase's
                report.wall_time = settings.clock() - started  # the call's, not the phase's
            already = already and report.already_complete
            if resumed is None and report.resumed_from is not None:
                resumed = (k + 1, report.resumed_from)
            total += report.units_total
            if k + 1 < count:
                # an argument no statement rebinds goes on as the caller's object (numba
                # returns a namedtuple as a plain tuple, an array as a new view)
                assert isinstance(result, tuple)
                values = tuple(
                    given[name] if name in given and name not in stored else value
                    for name, value in zip(plan.hands_on, result, strict=True)
                )
                if coordinator.speaks:
                    ran = settings.clock() - started
                    self._hand_on(handoffs[k], plan, values, given, total, ran)
        report.already_complete = already
        report.units_total = total
        if resumed is None and first > 0:  # a handoff gave back the phases before
            resumed = (first + 1, 0)
        if resumed is not None and report.resumed_from is None:  # a later phase began anew
            report.resumed_phase, report.resumed_from = resumed
        return result

    def _hand_on(
        self,
        handoff: Handoff,
        plan: LoopPlan,
        values: tuple,
        given: dict,
        total: int,
        redo_seconds: float,
    ) -> None:
        """Save the phase's handoff (``total``: the units of the phases up to this one;
        ``redo_seconds``: the time of the phases this call ran up to here); a failure costs
        a later resume some statements only."""
        try:
            why = handoff.save(plan.hands_on, values, given, self.written, total, redo_seconds)
            if why is not None:
                log.debug("%s: no %s: %s", plan.name, handoff.json, why)
        except OSError as exc:
            warn(
                f"cannot write {handoff.json}: {exc.strerror or exc}; a resume will run the "
                "statements before this phase's loop again",
                CheckpointWarning,
            )
