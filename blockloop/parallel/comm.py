"""The few collective operations a distributed run needs, over MPI or in one process.

mpi4py is imported only when a run is distributed: launched under an MPI launcher with
more than one rank, or given a communicator (``checkpointed_loop(comm=...)``). All
messages are buffers of numbers (JSON text for the small run history); nothing is pickled.
"""

from __future__ import annotations

import json

import numpy as np

from .. import config

__all__ = ["MPIComm", "SerialComm", "world"]


class SerialComm:
    """One process: every collective is the identity."""

    rank = 0
    size = 1

    def allreduce_max(self, values: np.ndarray) -> np.ndarray:
        return values

    def allgather(self, values: np.ndarray) -> np.ndarray:
        return values[None]

    def bcast_array(self, values: np.ndarray, root: int = 0) -> np.ndarray:
        return values

    def bcast_json(self, obj: object) -> object:
        return obj

    def gather_json(self, obj: object) -> list | None:
        return [obj]

    def barrier(self) -> None:
        pass


class MPIComm:
    """An mpi4py communicator behind the same small interface."""

    def __init__(self, comm: object) -> None:
        from mpi4py import MPI

        self._mpi = MPI
        self.comm = comm
        self.rank = comm.Get_rank()  # type: ignore[attr-defined]
        self.size = comm.Get_size()  # type: ignore[attr-defined]

    def allreduce_max(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        self.comm.Allreduce(values, out, op=self._mpi.MAX)  # type: ignore[attr-defined]
        return out

    def allgather(self, values: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(values)
        out = np.empty((self.size, *values.shape), values.dtype)
        self.comm.Allgather(values, out)  # type: ignore[attr-defined]
        return out

    def bcast_array(self, values: np.ndarray, root: int = 0) -> np.ndarray:
        """``values`` of rank ``root``, in place on every rank (a contiguous buffer)."""
        self.comm.Bcast(values, root=root)  # type: ignore[attr-defined]
        return values

    def bcast_json(self, obj: object) -> object:
        data = json.dumps(obj).encode() if self.rank == 0 else b""
        n = self.bcast_array(np.array([len(data)], dtype=np.int64))[0]
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == 0 else np.empty(n, np.uint8)
        return json.loads(self.bcast_array(buf).tobytes().decode())

    def gather_json(self, obj: object) -> list | None:
        """Every rank's ``obj`` (JSON-able), in rank order, on rank 0; None elsewhere."""
        data = np.frombuffer(json.dumps(obj).encode(), np.uint8)
        sizes = self.allgather(np.array([data.size], np.int64))[:, 0]
        out = np.empty(int(sizes.sum()), np.uint8) if self.rank == 0 else None
        self.comm.Gatherv(data, [out, sizes] if out is not None else None, root=0)  # type: ignore[attr-defined]
        if out is None:
            return None
        starts = np.cumsum(sizes) - sizes
        return [
            json.loads(out[s : s + n].tobytes().decode())
            for s, n in zip(starts, sizes, strict=True)
        ]

    def hand_on(self, values: np.ndarray, owner: int, gather: str) -> int:
        """Rank ``owner``'s contiguous ``values`` to every rank (``gather="all"``), to rank
        0 (``"root"``) or to none (``"own"``), in place; the bytes this rank sent."""
        if gather == "all":
            self.bcast_array(values, root=owner)
            return values.nbytes * (self.size - 1) if owner == self.rank else 0
        if gather == "root" and owner != 0:
            if self.rank == owner:
                self.comm.Send(values, dest=0)  # type: ignore[attr-defined]
                return values.nbytes
            if self.rank == 0:
                self.comm.Recv(values, source=owner)  # type: ignore[attr-defined]
        return 0

    def allgather_rows(self, values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
        """Rank ``r``'s ``counts[r]`` elements from ``starts[r]`` of the contiguous
        ``values``, in place on every rank (each holds its own there already)."""
        self.comm.Allgatherv(  # type: ignore[attr-defined]
            self._mpi.IN_PLACE, [values, (counts.tolist(), starts.tolist())]
        )

    def shift(
        self, send: np.ndarray, dest: int | None, recv: np.ndarray | None, source: int | None
    ) -> None:
        """Send ``send`` to ``dest`` while receiving ``recv`` from ``source`` (None: no
        such neighbour); contiguous buffers."""
        null = self._mpi.PROC_NULL
        empty = np.empty(0, np.uint8)
        self.comm.Sendrecv(  # type: ignore[attr-defined]
            send if dest is not None else empty,
            dest=null if dest is None else dest,
            recvbuf=recv if recv is not None and source is not None else empty,
            source=null if source is None else source,
        )

    def barrier(self) -> None:
        self.comm.Barrier()  # type: ignore[attr-defined]


def world(comm: object | None = None) -> SerialComm | MPIComm:
    """The communicator a call runs on: ``comm`` if given, else MPI's world if this process
    was launched as one of several ranks, else a serial one.

    Raises
    ------
    RuntimeError
        If launched as one of several ranks but mpi4py cannot be imported.
    """
    if comm is not None:
        wrapped = MPIComm(comm)
        return wrapped if wrapped.size > 1 else SerialComm()
    size = config.mpi_world_size()
    if size == 1:
        return SerialComm()
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError(
            f"this process is one of {size} MPI ranks but mpi4py cannot be imported ({exc}); "
            'install it with `pip install "blockloop[mpi]"` or use the site\'s mpi4py'
        ) from None
    return MPIComm(MPI.COMM_WORLD)
