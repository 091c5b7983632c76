"""Work on run directories done after the call that asked for it has returned.

A run that ends before its first checkpoint records its completion, so that the same
call again returns the result at once. That record need not be durable (lost in a crash,
it costs one computation shorter than an interval), and it need not hold up the call
either: :func:`submit` queues it for one thread per process, which does such work in order.
Whatever opens a run directory first waits for that directory's work (:func:`wait`), and
the interpreter waits for all of it before it exits.

The work is mostly Python, so the thread needs the GIL for it: it gets it while the
process waits (on I/O, on a lock, in code that releases it), and otherwise only every
switch interval. A process that calls kernels back to back would queue records faster
than the thread writes them, so a call first does what is queued beyond :data:`BACKLOG`
itself (:func:`catch_up`).

A directory removed with :func:`shutil.rmtree` (as :class:`tempfile.TemporaryDirectory` and
pytest clean up) could be removing a run directory while its record is being written, and
the removal would fail: an audit hook makes every ``rmtree`` in the process wait for the
records first.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable

__all__ = ["catch_up", "submit", "wait"]

log = logging.getLogger(__name__)

_guard = threading.Lock()
_pending: dict[str, threading.Event] = {}
_work: queue.SimpleQueue[tuple[str, Callable[[], None], threading.Event]] = queue.SimpleQueue()
_thread: threading.Thread | None = None
BACKLOG = 4
"""Queued items a call leaves to the thread (see :func:`catch_up`)."""


def submit(key: str, work: Callable[[], None]) -> None:
    """Run ``work()`` on the background thread; :func:`wait` with ``key`` waits for it.

    ``work`` reports its own failures; an exception that escapes it is logged.
    """
    global _thread
    done = threading.Event()
    with _guard:
        _pending[key] = done
        if _thread is None:
            _thread = threading.Thread(target=_serve, name="blockloop-records", daemon=True)
            _thread.start()
    _work.put((key, work, done))


def catch_up(backlog: int = 0) -> None:
    """Do the work queued beyond ``backlog`` items here, now."""
    while _work.qsize() > backlog:
        try:
            item = _work.get_nowait()
        except queue.Empty:
            return
        _do(*item)


def wait(key: str | None = None) -> None:
    """Block until the work submitted with ``key`` (all work, if None) is done."""
    catch_up()
    with _guard:
        if key is None:
            events = list(_pending.values())
        else:
            event = _pending.get(key)
            if event is None:
                return
            events = [event]
    for event in events:
        event.wait()


def _serve() -> None:
    while True:
        _do(*_work.get())


def _do(key: str, work: Callable[[], None], done: threading.Event) -> None:
    try:
        work()
    except Exception:
        log.exception("blockloop: background work on %s failed", key)
    finally:
        with _guard:
            if _pending.get(key) is done:
                del _pending[key]
        done.set()


def _forget() -> None:
    """In a forked child: the parent's thread and its work are not there."""
    global _guard, _thread, _work
    _guard = threading.Lock()
    _pending.clear()
    _work = queue.SimpleQueue()
    _thread = None


def _on_audit(event: str, args: tuple) -> None:
    if event == "shutil.rmtree" and _pending:
        wait()


atexit.register(wait)
sys.addaudithook(_on_audit)
os.register_at_fork(after_in_child=_forget)
