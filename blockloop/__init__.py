"""blockloop: checkpointed, resumable, deterministic numba prange kernels.

Add ``@checkpointed_loop`` above ``@njit(parallel=True)``: the kernel runs in parallel
chunks of fixed tiles, saves its progress at the Young/Daly interval, resumes from the last
good checkpoint when called again, and returns the same bits however often it was stopped
and however many threads ran it.
"""

import logging

from ._errors import BlockingError, CheckpointError, CheckpointWarning, Interrupted
from ._version import __version__
from .decorator import checkpointed_loop
from .parallel.threads import register_numba_controller
from .report import Report
from .scheduling.policy import daly_interval, young_interval

register_numba_controller()
# the library logs under "blockloop"; configuring logging is the application's business
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "BlockingError",
    "CheckpointError",
    "CheckpointWarning",
    "Interrupted",
    "Report",
    "__version__",
    "checkpointed_loop",
    "daly_interval",
    "young_interval",
]
