"""Reading a kernel's source and pointing errors at the user's own lines."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass

from .._errors import BlockingError

__all__ = ["Source", "read_source"]


@dataclass(frozen=True)
class Source:
    """The dedented source of one function and where it lives in the user's file.

    Attributes
    ----------
    text : str
        Dedented source, decorators included.
    filename : str
        The user's file (or notebook cell name).
    first_line : int
        Line number in ``filename`` of the first line of ``text``.
    indent : int
        Columns removed by dedenting.
    """

    text: str
    filename: str
    first_line: int = 1
    indent: int = 0

    def line_of(self, node: ast.AST) -> int:
        """The user's line number of a node of ``ast.parse(self.text)``."""
        return getattr(node, "lineno", 1) + self.first_line - 1

    def error(self, node: ast.AST | None, reason: str) -> BlockingError:
        """A :class:`BlockingError` at ``node``'s place in the user's file."""
        if node is None:
            return BlockingError(reason, self.filename, self.first_line, 0)
        lineno = getattr(node, "lineno", 1)
        lines = self.text.splitlines()
        text = lines[lineno - 1] if 0 < lineno <= len(lines) else None
        if text is not None:
            text = " " * self.indent + text
        col = getattr(node, "col_offset", 0) + self.indent
        return BlockingError(reason, self.filename, self.line_of(node), col, text)

    def snippet(self, node: ast.AST) -> str:
        """The user's code of ``node`` on one line, for messages."""
        return ast.unparse(node).splitlines()[0]


def read_source(func: object) -> Source:
    """The :class:`Source` of a Python function.

    Raises
    ------
    BlockingError
        If the source cannot be found (a function made by ``exec`` or a lambda).
    """
    code = getattr(func, "__code__", None)
    filename = code.co_filename if code is not None else "<unknown>"
    try:
        lines, first = inspect.getsourcelines(func)  # type: ignore[arg-type]
    except (OSError, TypeError) as exc:
        raise BlockingError(
            f"cannot read the source of {getattr(func, '__qualname__', func)!r} ({exc}); "
            "blockloop rewrites the kernel's source, so define it in a file or a notebook cell",
            filename,
            getattr(code, "co_firstlineno", None),
            0,
        ) from None
    raw = "".join(lines)
    text = textwrap.dedent(raw)
    first_raw = next((ln for ln in lines if ln.strip()), "")
    first_ded = next((ln for ln in text.splitlines() if ln.strip()), "")
    indent = len(first_raw) - len(first_raw.lstrip()) - (len(first_ded) - len(first_ded.lstrip()))
    return Source(text=text, filename=filename, first_line=max(first, 1), indent=indent)
