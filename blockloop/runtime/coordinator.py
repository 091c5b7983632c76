"""How the processes of a run work together: one process alone, here.

The driver hands every decision that involves other ranks to a coordinator: who writes,
how a resumed state reaches every rank, how a round of units is cut and combined, and how
the ranks agree to stop or checkpoint. :class:`Coordinator` is one process;
:class:`~blockloop.parallel.mpi.MPICoordinator` spreads a reduction over MPI ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._errors import CheckpointError
from ..report import Report
from ..scheduling.policy import Policy
from ..storage.store import Store
from .checkpointer import Checkpointer
from .kinds import LoopKind
from .stops import Stop

__all__ = ["Coordinator", "Resumed"]


@dataclass(frozen=True)
class Resumed:
    """A run picked up from a checkpoint.

    Attributes
    ----------
    done : int
        Units done.
    generation : int or None
        The generation read (None on ranks that did not read the files).
    write_cost : float or None
        The write cost the policy had measured, if known.
    """

    done: int
    generation: int | None = None
    write_cost: float | None = None


class Coordinator:
    """One process: it writes, reads, plans and decides alone."""

    rank = 0
    size = 1

    @property
    def speaks(self) -> bool:
        """Whether this process reports for the run (logs, progress bar)."""
        return self.rank == 0

    def same_everywhere(self, where: object, what: str, value: int) -> None:
        """Check that every rank found the same ``value`` in the run directory ``where``
        (alone: nothing to check)."""

    def checkpointer(
        self, store: Store, report: Report, clock: Callable[[], float]
    ) -> Checkpointer:
        """The checkpointer of this process."""
        return Checkpointer(store, report, clock)

    def resume(self, checkpointer: Checkpointer, kind: LoopKind) -> Resumed | None:
        """Reset ``kind``, then put back the newest good checkpoint's state, if any."""
        kind.reset()
        ckpt = checkpointer.load()
        if ckpt is None:
            return None
        state = ckpt.manifest.state
        try:
            if state.total > kind.total or state.unit != kind.unit:  # (a loop that stopped
                raise CheckpointError(  # early records the step it stopped at as its total)
                    f"it holds {state.unit} {state.done} of {state.total}, but this run has "
                    f"at most {kind.total} {kind.unit}s"
                )
            kind.restore(ckpt, state.done)
        except CheckpointError as exc:
            raise CheckpointError(f"{checkpointer.run_dir}: {exc}") from None
        cost = state.policy.write_cost if state.policy is not None else None
        return Resumed(state.done, ckpt.generation, cost)

    def prepare(self, kind: LoopKind, max_units: int) -> int:
        """Buffers a round needs beyond the loop's own; the most units in a round."""
        return max_units

    def plan_round(self, policy: Policy, done: int, total: int) -> int:
        """Units in the next round."""
        return policy.next_units(total - done)

    def advance(self, kind: LoopKind, first: int, count: int) -> None:
        """Compute a round of ``count`` units from ``first``."""
        kind.advance(first, count)

    def agree(
        self, stop: Stop | None, due: bool, policy: Policy, done: int, total: int
    ) -> tuple[Stop | None, bool]:
        """After a round: the stop every rank acts on, and whether a checkpoint is due."""
        return stop, due

    def finish(self, kind: LoopKind, done: int, gather: str = "all") -> object:
        """The loop's result once every unit is done (the epilogue run); over MPI ranks,
        after the rows each computed reach the ranks ``gather`` names."""
        return kind.finish(done)

    def committed(self, forced: bool) -> None:
        """After a checkpoint: a forced one is durable before any rank goes on."""
