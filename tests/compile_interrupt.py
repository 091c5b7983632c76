"""A child process for tests/test_compile_interrupt.py: SIGINT at the K-th pass of numba's
compiler (counted with numba's own event hooks), on a cold cache.

    python -m tests.compile_interrupt K N AGAIN

prints one JSON object: how the first call ended (and its message), how many compiler
passes it ran, and (AGAIN = 1) the result of calling again in the same process. K = 0
sends nothing.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np
from numba import njit, prange
from numba.core import event

from blockloop import checkpointed_loop


@checkpointed_loop
@njit(parallel=True, cache=True)
def weighted_norm(w, n):
    scale = 1.0 / np.sqrt(n)  # a prologue, so that several functions are compiled
    acc = 0.0
    for i in prange(n):
        v = np.sin(0.001 * i) * w[i % w.size]
        acc += v * v
    return np.sqrt(acc) * scale


class SigintAt(event.Listener):
    """Sends SIGINT to this process when the K-th compiler pass starts."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.passes = 0

    def on_start(self, ev: event.Event) -> None:
        self.passes += 1
        if self.passes == self.k:
            os.kill(os.getpid(), signal.SIGINT)

    def on_end(self, ev: event.Event) -> None:
        pass


def main() -> None:
    k, n, again = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    w = np.linspace(0.5, 1.5, 97)
    listener = SigintAt(k)
    event.register("numba:run_pass", listener)
    out: dict[str, object] = {}
    try:
        out["first"] = weighted_norm(w, n).hex()
    except KeyboardInterrupt as exc:
        out["first"] = "KeyboardInterrupt"
        out["message"] = str(exc)
    finally:
        event.unregister("numba:run_pass", listener)
    out["passes"] = listener.passes
    if again:
        out["second"] = weighted_norm(w, n).hex()
        out["resumed_from"] = weighted_norm.last_report.resumed_from
    print(json.dumps(out))


if __name__ == "__main__":
    main()
