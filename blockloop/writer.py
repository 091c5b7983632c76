"""One background writer: at most one checkpoint in flight, errors handed back to the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Writer"]


class Writer:
    """Runs one save at a time on a thread; :meth:`wait` joins it and re-raises its error.

    The caller hands over arrays it will not touch until the next :meth:`wait` (a
    snapshot), never live state.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def busy(self) -> bool:
        """True while a write is in flight."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, save: Callable, arrays: dict, state: dict, done: Callable) -> None:
        """Start ``done(*save(arrays, state))`` in the background (after any previous one)."""
        self.wait()

        def work() -> None:
            try:
                done(*save(arrays, state))
            except BaseException as exc:  # handed to the main thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=work, name="blockloop-writer", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight is durable; raise the error it met, if any."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
