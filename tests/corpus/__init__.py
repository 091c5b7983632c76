"""A corpus of prange kernels in the shapes found in public scientific libraries.

Each kernel is written for this corpus (never copied): its ``follows`` names the library and
function whose *shape* it follows. ``tests/test_corpus.py`` runs every case: an accepted
kernel must give plain numba's result, and a sample is killed mid-run and resumed to the
bits of an uninterrupted run; a refused kernel must be refused at decoration or first call
with a message naming what cannot be honoured.

A module of the corpus registers its kernels with :func:`case`::

    @case(args=lambda: (_rng(0).random(500),), follows="umap: umap/layouts.py::optimize_layout")
    @njit(parallel=True, cache=True)
    def layout_step(x): ...
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CASES", "Case", "all_cases", "case", "figure", "library", "rng"]


@dataclass(frozen=True)
class Case:
    """One corpus kernel.

    Attributes
    ----------
    kernel : numba dispatcher
        The kernel as its author would write it (``@njit(parallel=True)``).
    args : callable
        Returns fresh arguments (the same values each call).
    follows : str
        ``"library: path::function"`` whose shape the kernel follows.
    expect : str
        ``"accept"``: race-free, blockloop must give numba's result. ``"race"``: two
        iterations write one element, or one reads what another writes; blockloop must
        refuse it. ``"unseen"``: a race that only the data makes (two iterations storing
        through equal data-dependent indices, with no read of what they store): neither
        numba nor blockloop can see it from the code; blockloop accepts it and saves the
        array whole, so a resume loses nothing. ``"refuse"``: blockloop cannot honour it
        for another stated reason.
    why : str
        For a refusal, a phrase the message must contain.
    exact : bool
        Whether plain numba's result has the same bits for any thread count (no float
        reduction across iterations): then blockloop's must be bit-identical to it.
    gap : str
        For a race-free kernel that blockloop still refuses (a known limit, counted as
        "refused otherwise"), a phrase of the refusal; the test fails once it is accepted.
    """

    kernel: object
    args: Callable[[], tuple]
    follows: str
    expect: str = "accept"
    why: str = ""
    exact: bool = True
    gap: str = ""

    @property
    def name(self) -> str:
        module = self.kernel.py_func.__module__.rpartition(".")[2]
        return f"{module}.{self.kernel.py_func.__name__}"


CASES: list[Case] = []


def case(
    args: Callable[[], tuple],
    follows: str,
    expect: str = "accept",
    why: str = "",
    exact: bool = True,
    gap: str = "",
) -> Callable[[object], object]:
    """Register the decorated kernel as a corpus case (see :class:`Case`)."""
    if expect not in ("accept", "race", "unseen", "refuse"):
        raise ValueError(f"expect must be accept, race, unseen or refuse, not {expect!r}")

    def register(kernel: object) -> object:
        CASES.append(Case(kernel, args, follows, expect, why, exact, gap))
        return kernel

    return register


def rng(seed: int) -> np.random.Generator:
    """A seeded generator for a case's arguments."""
    return np.random.default_rng(seed)


def library(c: Case) -> str:
    """The library a case follows."""
    return c.follows.split(":")[0].strip()


def figure(cases: list[Case]) -> str:
    """The corpus's figure, as the limits page states it."""
    accepted = sum(c.expect == "accept" and not c.gap for c in cases)
    races = sum(c.expect == "race" for c in cases)
    unseen = sum(c.expect == "unseen" for c in cases)
    other = len(cases) - accepted - races - unseen
    libraries = len({library(c) for c in cases})
    return (
        f"{len(cases)} kernels in the shapes of {libraries} libraries: {accepted} race-free "
        f"kernels accepted with plain numba's result, {other} race-free kernels refused, "
        f"{races} races refused, {unseen} races through data-dependent indices accepted as "
        "numba accepts them"
    )


def all_cases() -> list[Case]:
    """Every case of every module of the corpus."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return list(CASES)
