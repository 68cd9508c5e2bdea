"""RequestContext's fields are typed: each annotation resolves, and none is Any."""

from __future__ import annotations

import ast
import inspect
import typing

from server.pipeline import context
from server.pipeline.context import RequestContext


def _type_checking_names() -> dict:
    """The names context.py imports under `if TYPE_CHECKING:`, imported for real."""
    tree = ast.parse(inspect.getsource(context))
    (block,) = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING"]
    names: dict = {}
    exec(compile(ast.Module(body=block.body, type_ignores=[]), context.__file__, "exec"), names)
    return names


def _parts(hint) -> list:
    return [hint, *(p for arg in typing.get_args(hint) for p in _parts(arg))]


def test_every_field_resolves_to_a_real_type() -> None:
    hints = typing.get_type_hints(RequestContext, localns=_type_checking_names())
    assert set(hints) >= {"guard", "output_guard", "cache_vector", "target", "request"}
    untyped = sorted(name for name, hint in hints.items() if typing.Any in _parts(hint))
    assert not untyped, f"typed Any: {untyped}"
