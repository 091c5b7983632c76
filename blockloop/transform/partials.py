"""How a blocked reduction's generated code carries each accumulator's tile partials.

Chosen once per accumulator: :class:`PlainPartials` (a row of ``_bl_p_NAME`` per tile,
folded with the operator's combine) or :class:`ExactPartials` (an ``exact=True`` sum: a
superaccumulator per tile, merged exactly, rounded once). Each gives the lines the
renderer puts in ``_bl_chunk``, ``_bl_fold`` and ``_bl_finish``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..operators import REDUCTIONS

__all__ = ["ExactPartials", "PlainPartials"]


def _combine(op: str, a: str, b: str) -> str:
    return REDUCTIONS[op].combine.format(a=a, b=b)


@dataclass(frozen=True)
class PlainPartials:
    """How the generated code carries one accumulator: a tile partial per row of its
    ``_bl_p_`` array, folded with the operator's combine; chosen once per accumulator."""

    name: str
    op: str

    @property
    def stack(self) -> str:
        return f"_bl_s_{self.name}"

    def extra(self) -> list[str]:
        """The parameters this accumulator adds to every function (exact sums' scratch)."""
        return []

    def open(self) -> str:
        n = self.name
        return f"{n} = _bl_open(_bl_p_{n}, _bl_j, _bl_id_{n}, _bl_init_{n})"

    def close(self) -> str:
        return f"_bl_close(_bl_p_{self.name}, _bl_j, {self.name})"

    def merge(self) -> list[str]:
        """Combine stack rows ``_bl_d`` and ``_bl_d + 1`` into row ``_bl_d``."""
        s = self.stack
        both = _combine(self.op, f"{s}[_bl_d, _bl_e]", f"{s}[_bl_d + 1, _bl_e]")
        return [f"for _bl_e in range({s}.shape[1]):", f"    {s}[_bl_d, _bl_e] = {both}"]

    def finish(self) -> list[str]:
        """``_bl_r_NAME``: the stack's ``_bl_d`` rows folded left to right, then combined
        with the initial value last."""
        n, s, f = self.name, self.stack, f"_bl_f_{self.name}"
        return [
            f"_bl_r_{n} = _bl_flat(_bl_init_{n})",
            "if _bl_d > 0:",
            f"    {f} = {s}[0].copy()",
            "    for _bl_q in range(1, _bl_d):",
            f"        for _bl_e in range({f}.shape[0]):",
            f"            {f}[_bl_e] = {_combine(self.op, f'{f}[_bl_e]', f'{s}[_bl_q, _bl_e]')}",
            f"    for _bl_e in range({f}.shape[0]):",
            f"        _bl_r_{n}[_bl_e] = {_combine(self.op, f'_bl_r_{n}[_bl_e]', f'{f}[_bl_e]')}",
        ]


@dataclass(frozen=True)
class ExactPartials(PlainPartials):
    """An ``exact=True`` sum: a superaccumulator per tile, merged exactly, rounded once."""

    def extra(self) -> list[str]:
        return [f"_bl_xm_{self.name}"]

    def open(self) -> str:
        n = self.name
        return f"{n} = _bl_xopen(_bl_p_{n}[_bl_j], _bl_id_{n}, _bl_init_{n}, _bl_xm_{n})"

    def close(self) -> str:
        n = self.name
        return f"_bl_xclose(_bl_p_{n}[_bl_j], {n}, _bl_xm_{n})"

    def merge(self) -> list[str]:
        s = self.stack
        return [f"_bl_xmerge({s}[_bl_d], {s}[_bl_d + 1], _bl_xm_{self.name})"]

    def finish(self) -> list[str]:
        n = self.name
        return [f"_bl_r_{n} = _bl_xfinish(_bl_init_{n}, {self.stack}, _bl_d, _bl_xm_{n})"]
