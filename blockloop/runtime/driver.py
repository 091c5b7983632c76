"""The driver of one call: a short loop over the small actions of a checkpointed run."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import numba

from ..report import Report
from ..scheduling.policy import TILES_PER_THREAD, Policy
from ..storage.fingerprint import HASH_RATE
from ..storage.manifest import Identity
from .coordinator import Coordinator, Resumed
from .kinds import LoopKind
from .progress import Progress
from .settings import RunSettings, refine_mtbf
from .stops import COMPLETION, INTERVAL, Stop, StopReason, Stops

__all__ = ["Driver"]

log = logging.getLogger(__name__)


class Driver:
    """Runs one loop kind to completion or to a stop, checkpointing on the way.

    Parameters
    ----------
    kind : LoopKind
        The loop.
    coordinator : Coordinator
        This process alone, or its place among MPI ranks.
    settings : RunSettings
        The call's settings.
    identity : Identity
        The run's identity before the loop's own facts are known.
    report : Report
        Filled in as the call goes.
    """

    def __init__(
        self,
        kind: LoopKind,
        coordinator: Coordinator,
        settings: RunSettings,
        identity: Identity,
        report: Report,
    ) -> None:
        self.kind = kind
        self.coordinator = coordinator
        self.settings = settings
        self.identity = identity
        self.report = report
        self.clock = settings.clock
        self.stops = Stops(
            settings.signals, settings.deadline, settings.wall_clock, watch=settings.watch
        )
        self.done = 0
        self.longest_chunk = 0.0
        self.resumed: Resumed | None = None

    def run(self) -> object:
        """Run (or resume) the loop; return the kernel's result."""
        self.start()
        with self.checkpointer:
            self.resume()
            self.policy = self.make_policy()
            if self.done >= self.kind.total:
                return self.complete_at_once()
            self.warm_up()
            with self.stops, self.chunking():
                self.signalled_before()
                while self.done < self.kind.total:
                    self.chunk()
                    stop, due = self.decide()
                    if stop is not None:
                        self.interrupt(stop)
                    if due:
                        self.commit(INTERVAL)
                        self.policy.checkpointed()
                if self.records_completion():
                    self.commit(COMPLETION)
            self.report.complete = True
            return self.coordinator.finish(self.kind, self.done, self.settings.gather)

    # -- the actions, in the order they run -------------------------------------------
    def start(self) -> None:
        """The user's prologue, the run's identity and store."""
        self.wall0 = self.clock()
        self.kind.copy_budget = self.settings.copy_budget
        facts = self.kind.prologue()
        self.identity = self.identity.with_loop(**facts)
        store = self.settings.store(self.identity)
        self.checkpointer = self.coordinator.checkpointer(store, self.report, self.clock)
        report = self.report
        report.run_dir = str(self.checkpointer.run_dir)
        report.unit = self.kind.unit
        report.units_total, report.mtbf = self.kind.total, self.settings.mtbf

    def resume(self) -> None:
        """Pick the run up from its newest good checkpoint, if there is one."""
        self.resumed = self.coordinator.resume(self.checkpointer, self.kind)
        if self.resumed is None:
            return
        self.done = self.resumed.done
        self.report.resumed_from = self.done
        self.report.generation = self.resumed.generation
        if self.done < self.kind.total and self.coordinator.speaks:
            log.info(
                "%s: resuming at %s %d of %s from %s",
                self.label,
                self.kind.unit,
                self.done,
                self.of_total,
                self.checkpointer.run_dir,
            )

    def make_policy(self) -> Policy:
        """The interval policy, from the MTBF (refined by the run's history) and the state."""
        settings = self.settings
        mtbf = settings.mtbf
        if settings.interval is None:
            mtbf = refine_mtbf(settings.mtbf, self.checkpointer.sessions)
            if mtbf != settings.mtbf:
                log.info("%s: MTBF refined from this run's history: %.0f s", self.name, mtbf)
        self.report.mtbf = mtbf
        threads = numba.get_num_threads() if self.kind.parallel_units else 1
        self.nbytes = self.kind.state_bytes(self.done)
        max_units = self.coordinator.prepare(self.kind, self.kind.allocate(threads))
        # until a write is measured, assume the state blocks the loop at 1 GB/s
        guess = 0.002 + self.nbytes / 1e9
        rounds = TILES_PER_THREAD if self.kind.parallel_units else 1
        policy = Policy(
            mtbf, settings.interval, threads, max_units, initial_cost=guess, rounds=rounds
        )
        if self.resumed is not None and self.resumed.write_cost is not None:
            policy.write_cost = self.resumed.write_cost
        return policy

    def complete_at_once(self) -> object:
        """The run was already complete (or its loop is empty): the epilogue only."""
        report = self.report
        report.complete = report.already_complete = self.resumed is not None
        if self.resumed is None:  # empty loop: record the (trivial) completion
            self.commit(COMPLETION)
            report.complete = True
        report.interval = self.policy.interval
        report.units_total = self.kind.total
        report.wall_time = self.clock() - self.wall0
        return self.coordinator.finish(self.kind, self.done, self.settings.gather)

    def warm_up(self) -> None:
        """Compile (or load from cache) the chunk function before timing anything.

        The dispatch overhead is a property of the machine, timed with the real clock once
        per kernel: a later call whose types are compiled already skips both empty calls.
        A run timed by another clock (a test's, counting events) takes it as zero: real
        seconds mixed into its own would make its chunks depend on how loaded the machine is.
        """
        gen = self.kind.gen
        if gen.dispatch is None or not self.kind.ready():
            self.kind.advance(self.done, 0)
            t0 = time.perf_counter()
            self.kind.advance(self.done, 0)
            gen.dispatch = time.perf_counter() - t0
        real = self.clock is time.perf_counter
        self.policy.dispatch = gen.dispatch if real else 0.0

    @contextlib.contextmanager
    def chunking(self) -> Iterator[None]:
        """The progress bar while chunks run; afterwards, whatever happened, the write in
        flight is waited for and the report completed."""
        speaks = self.coordinator.speaks and self.settings.progress
        kind = self.kind
        total = kind.total if kind.bounded else None
        self.bar = Progress(speaks, self.label, total, self.done, kind.unit)
        try:
            yield
        finally:
            self.checkpointer.drain()
            self.bar.close()
            policy, report = self.policy, self.report
            report.interval = policy.interval
            report.units_total = self.kind.total if self.kind.bounded else self.done
            report.write_cost = policy.write_cost if policy.writes_measured else None
            report.wall_time = self.clock() - self.wall0

    def signalled_before(self) -> None:
        """A signal that came before the first chunk (while numba compiled, the handlers
        of the whole call only recorded it): stop now. A new run has nothing to save."""
        received = self.stops.watch.received
        if received is None or self.coordinator.size > 1:
            return  # ranks agree on a stop after each chunk
        stop = Stop(StopReason.SIGNAL, received)
        if self.resumed is not None or self.report.phase > 1:
            self.interrupt(stop)
        self.report.interrupted_by = stop.what
        log.warning("%s: %s before the loop began: nothing saved", self.label, stop.cause)
        raise stop.nothing_saved(self.settings.exit_code, self.label)

    def chunk(self) -> None:
        """One round of units, timed."""
        units = self.coordinator.plan_round(self.policy, self.done, self.kind.total)
        t0 = self.clock()
        self.coordinator.advance(self.kind, self.done, units)
        elapsed = self.clock() - t0
        units = min(units, self.kind.total - self.done)  # a convergence loop may stop early
        self.done += units
        self.checkpointer.compute_seconds += elapsed
        report = self.report
        report.chunks += 1
        report.units += units
        report.compute_time += elapsed
        self.policy.record_chunk(units, elapsed)
        self.bar.update(units, report.checkpoints)
        self.longest_chunk = max(self.longest_chunk, elapsed)

    def decide(self) -> tuple[Stop | None, bool]:
        """After a chunk: the stop to act on, and whether an interval checkpoint is due."""
        stop = self.stops.check(self.deadline_margin())
        stop, due = self.coordinator.agree(
            stop, self.policy.due(), self.policy, self.done, self.kind.total
        )
        running = self.done < self.kind.total
        return (stop if running else None), due and running

    def deadline_margin(self) -> float:
        """Seconds before the deadline at which to stop: twice the longest chunk, twice the
        longest (or the expected) full write, and two seconds for the process to exit."""
        write = self.checkpointer.longest_write or self.nbytes / 100e6 + 0.05
        return 2 * max(self.longest_chunk, self.policy.chunk_seconds) + 2 * write + 2.0

    def records_completion(self) -> bool:
        """Whether to write the completion checkpoint.

        Always, except when the run key only sampled large arguments and hashing them
        whole (which any checkpoint needs) would cost more than 1 % of this call: the run
        then ended before its first checkpoint, and the next identical call computes it
        again, as it would after a crash at that point.
        """
        pending = self.identity.content.pending_bytes
        if not pending or self.coordinator.size > 1:
            return True
        if pending / HASH_RATE <= 0.01 * (self.clock() - self.wall0):
            return True
        log.debug("%s: complete; not recorded (the arguments are not hashed)", self.label)
        return False

    def interrupt(self, stop: Stop) -> None:
        """A durable checkpoint, then the exception that ends the call."""
        self.report.interrupted_by = stop.what
        self.commit(stop)
        run_dir = str(self.checkpointer.run_dir)
        log.log(
            logging.WARNING if self.coordinator.speaks else logging.DEBUG,
            "%s: %s; checkpoint saved at %s %d of %s in %s; run again to continue",
            self.label,
            stop.cause,
            self.kind.unit,
            self.done,
            self.of_total,
            run_dir,
        )
        code = self.settings.exit_code
        raise stop.exception(code, self.done, run_dir, self.kind.unit, str(self.of_total))

    def commit(self, why: Stop) -> None:
        """A checkpoint of the loop's state now."""
        self.checkpointer.commit(self.kind, self.done, self.policy, why)
        self.coordinator.committed(forced=why.forced)

    @property
    def name(self) -> str:
        return self.kind.plan.name

    @property
    def of_total(self) -> str:
        """The number of units, or ``"?"`` while a convergence loop runs."""
        return str(self.kind.total) if self.kind.bounded else "?"

    @property
    def label(self) -> str:
        """The kernel's name, and its phase when it has several (``"moments, phase 2 of 3"``)."""
        report = self.report
        if report.phases > 1:
            return f"{self.name}, phase {report.phase} of {report.phases}"
        return self.name
