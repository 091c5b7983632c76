"""Running a blocked kernel: the driver, the loop kinds, checkpointing and stopping.

=================  ==========================================================  ==============
module             holds                                                       imports
=================  ==========================================================  ==============
``settings``       a call's resolved settings; the MTBF refined from history   manifest, store
``stops``          why a run stops; signals and the deadline as one object     signals
``kinds``          the :class:`LoopKind` interface; calling generated code     store, transform
``reduction``      the reduction loop kind (tiles, fold stacks)                kinds
``sequential``     the sequential loop kind (steps, carried state)             kinds
``checkpointer``   store, background writer, sessions, write cost              kinds, store
``coordinator``    one process's coordination (MPI's is in ``distributed``)    checkpointer
``driver``         the short loop over the actions of a call                   all the above
``phases``         the phases of a kernel of several loops, in turn            driver
=================  ==========================================================  ==============
"""

from .coordinator import Coordinator, Resumed
from .driver import Driver
from .kinds import Generated, LoopKind, retype
from .phases import Phases
from .reduction import ReductionKind, choose_tile
from .sequential import SequentialKind
from .settings import RunSettings, refine_mtbf
from .stops import Stop, StopReason, Stops

__all__ = [
    "Coordinator",
    "Driver",
    "Generated",
    "LoopKind",
    "Phases",
    "ReductionKind",
    "Resumed",
    "RunSettings",
    "SequentialKind",
    "Stop",
    "StopReason",
    "Stops",
    "choose_tile",
    "refine_mtbf",
    "retype",
]
