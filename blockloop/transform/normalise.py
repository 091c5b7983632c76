"""Normalisation: one spelling for each reduction update, as a pure rewrite.

``s = s + e`` and ``s = e + s`` become ``s += e``; ``h[k] = h[k] * e`` becomes
``h[k] *= e``; ``s = min(e, s)`` becomes ``s = min(s, e)``. Only statements whose target
names an outer variable change: a variable first bound inside the loop is a private
temporary. The input is left as it is; the result is a new list of new statements.
"""

from __future__ import annotations

import ast
import copy

from ..operators import COMMUTATIVE, by_ast_op
from .syntax import SCOPES, is_name, names_loaded

__all__ = ["normalise", "same_target"]


def normalise(body: list[ast.stmt], outer: set[str]) -> list[ast.stmt]:
    """A copy of ``body`` with every reduction update of an ``outer`` name in one spelling."""
    rewrite = _Rewrite(outer)
    out = []
    for stmt in body:
        new = rewrite.visit(copy.deepcopy(stmt))
        assert isinstance(new, ast.stmt)
        out.append(new)
    return out


def same_target(a: ast.AST, b: ast.AST) -> bool:
    """Whether two expressions are the same text, whatever their load/store context."""
    return ast.dump(a, annotate_fields=False).replace("Store()", "Load()") == ast.dump(
        b, annotate_fields=False
    ).replace("Store()", "Load()")


class _Rewrite(ast.NodeTransformer):
    def __init__(self, outer: set[str]) -> None:
        self.outer = outer

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if len(node.targets) != 1:
            return node
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in self.outer:
            return self._scalar(node, target.id, value)
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.value, ast.Name)
            and target.value.id in self.outer
            and isinstance(value, ast.BinOp)
            and by_ast_op(value.op) is not None
            and same_target(value.left, target)
            and target.value.id not in names_loaded([value.right])
        ):
            new = ast.AugAssign(target=target, op=value.op, value=value.right)
            return ast.copy_location(new, node)
        return node

    def _scalar(self, node: ast.Assign, name: str, value: ast.expr) -> ast.AST:
        if isinstance(value, ast.BinOp):
            reduction = by_ast_op(value.op)
            if reduction is not None:
                other = None
                if is_name(value.left, name):
                    other = value.right
                elif is_name(value.right, name) and reduction.key in COMMUTATIVE:
                    other = value.left
                if other is not None and name not in names_loaded([other]):
                    new = ast.AugAssign(
                        target=ast.Name(name, ast.Store()), op=value.op, value=other
                    )
                    return ast.copy_location(new, node)
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id in ("min", "max")
            and len(value.args) == 2
            and not value.keywords
        ):
            first, second = value.args
            if is_name(second, name) and not is_name(first, name):
                if name not in names_loaded([first]):
                    value.args = [second, first]
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, SCOPES):
            return node
        return super().generic_visit(node)
