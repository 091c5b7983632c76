"""What one call of a checkpointed kernel did."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Report"]


@dataclass
class Report:
    """The record of the last call, available as ``kernel.last_report``.

    Made by every call, not constructed directly.

    Attributes
    ----------
    kernel : str
        The kernel's name.
    run_dir : str
        The run's checkpoint directory.
    unit : str
        What the run counts: ``"tile"`` (``tile_size`` iterations of a prange reduction,
        the last may be shorter) or ``"step"`` (one step of a sequential loop).
    units_total : int
        Units in the whole run (also readable as ``tiles_total``).
    tile_size : int
        Iterations per tile (1 for a sequential loop).
    resumed_from : int or None
        Unit this call resumed from, None for a fresh start.
    resumed_phase : int or None
        For a kernel of several loops whose call resumed in an earlier phase than the one
        it ended in: that phase (``resumed_from`` is then a unit of that phase).
    chunks, units : int
        Chunks run and units (tiles or steps) computed by this call (``units`` is also
        readable as ``tiles``).
    checkpoints : int
        Checkpoints written by this call (interval, forced and the final one).
    write_cost : float or None
        Measured blocking write cost in seconds (moving average): the time the compute
        loop was held up by checkpointing.
    write_seconds : float
        Total seconds of completed checkpoint writes, background ones included.
    blocked_seconds : float
        Total seconds the compute loop was held up by interval checkpoints (waiting for
        the previous write and copying the snapshot; forced checkpoints not counted).
    interval : float
        Compute seconds between checkpoints in force at the end of the call.
    mtbf : float
        Mean time between failures used, in seconds.
    compute_time, wall_time : float
        Seconds in chunks, and seconds for the whole call.
    complete : bool
        The run has finished (a repeated call returns at once).
    already_complete : bool
        This call found the run complete and computed nothing.
    returned_early : bool
        The kernel returned before its loop (an early ``return`` whose test was true for
        these arguments): the original kernel ran, and nothing was checkpointed.
    interrupted_by : str or None
        The signal that stopped this call after a checkpoint.
    generation : int or None
        The newest checkpoint generation.
    rank, ranks : int
        This process's MPI rank and the number of ranks (0 and 1 when not distributed).
    phase, phases : int
        The phase (loop) this call ended in, from 1, and the kernel's number of phases.
    combine_time : float
        Seconds this rank spent combining rounds across ranks (gather, fold, agreement);
        part of ``compute_time``. Zero when not distributed.
    wait_time : float
        Seconds this rank waited at the end of its rounds for slower ranks (imbalance);
        part of ``compute_time``. Zero when not distributed.
    bytes_written : int
        Bytes of checkpoint entries this process wrote (over MPI ranks: the rows this rank
        computed, for every rank; the rest of the state, for rank 0).
    bytes_sent : int
        Bytes this rank sent to other ranks (rows of a map at the end of the run, rows
        exchanged between steps, a reduction's partials each round). Zero when not
        distributed.
    inspection : str or None
        ``"ran"`` where the loop's inspection pass ran at this call, ``"reused"`` where an
        earlier call's pass over the same inputs stood (see the loops guide); None for a
        loop without one.
    writes : list of str
        How each checkpoint of this call was written: ``"background"`` (a copy, written
        while the loop went on), ``"synchronous"`` (from the live arrays, the loop held:
        forced checkpoints, and states over the copy budget) or ``"after the call"`` (a
        short run's completion record).
    """

    kernel: str
    run_dir: str
    unit: str = "tile"
    units_total: int = 0
    tile_size: int = 0
    resumed_from: int | None = None
    resumed_phase: int | None = None
    chunks: int = 0
    units: int = 0
    checkpoints: int = 0
    write_cost: float | None = None
    write_seconds: float = 0.0
    blocked_seconds: float = 0.0
    interval: float = 0.0
    mtbf: float = 0.0
    compute_time: float = 0.0
    wall_time: float = 0.0
    complete: bool = False
    already_complete: bool = False
    returned_early: bool = False
    interrupted_by: str | None = None
    generation: int | None = None
    rank: int = 0
    ranks: int = 1
    combine_time: float = 0.0
    wait_time: float = 0.0
    phase: int = 1
    phases: int = 1
    bytes_written: int = 0
    bytes_sent: int = 0
    inspection: str | None = None
    writes: list[str] = field(default_factory=list)

    @property
    def tiles_total(self) -> int:
        """``units_total`` (the name from when every unit was a tile)."""
        return self.units_total

    @property
    def tiles(self) -> int:
        """``units`` (the name from when every unit was a tile)."""
        return self.units

    def as_dict(self) -> dict:
        """The report as a JSON-able dict (with ``tiles`` and ``tiles_total`` too)."""
        return {**asdict(self), "tiles": self.units, "tiles_total": self.units_total}

    def __str__(self) -> str:
        if self.returned_early:
            return f"{self.kernel}: returned before its loop; nothing checkpointed"
        resumed = (
            "fresh start"
            if self.resumed_from is None
            else f"resumed at {self.unit} {self.resumed_from}"
        )
        if self.resumed_phase is not None and self.resumed_from is not None:
            resumed = f"resumed in phase {self.resumed_phase} at {self.resumed_from}"
        cost = "n/a" if self.write_cost is None else f"{self.write_cost * 1e3:.2f} ms"
        state = (
            "already complete"
            if self.already_complete
            else ("complete" if self.complete else f"interrupted by {self.interrupted_by}")
        )
        units = (
            f"{self.units}/{self.units_total} tiles of {self.tile_size}"
            if self.unit == "tile"
            else f"{self.units}/{self.units_total} steps"
        )
        phase = f"phase {self.phase} of {self.phases}; " if self.phases > 1 else ""
        return (
            f"{self.kernel}: {state}; {phase}{resumed}; {units} in "
            f"{self.chunks} chunk{'s' * (self.chunks != 1)}; "
            f"{self.checkpoints} checkpoint{'s' * (self.checkpoints != 1)} "
            f"(write {cost}, interval {self.interval:.3g} s, MTBF {self.mtbf:.0f} s); "
            f"compute {self.compute_time:.3f} s, wall {self.wall_time:.3f} s; {self.run_dir}"
        )
