"""One exception tree: every exception class of the server derives from GateError, and the
tree drawn in server/core/errors.py's docstring names each of them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import server.core.errors
from server.core.errors import GateError

ROOT = Path(__file__).resolve().parents[2]


def server_classes() -> list[type]:
    """Every class defined at the top of a server module (read with ast, then imported)."""
    found = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.bases]
        if not names:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        found.extend(getattr(module, name) for name in names)
    return found


def test_every_exception_of_the_server_has_one_root_and_is_in_the_drawn_tree():
    exceptions = [c for c in server_classes() if isinstance(c, type) and issubclass(c, BaseException)]
    assert len(exceptions) >= 20  # the walk found the tree (GatewayError and its subclasses at least)
    outside = sorted(f"{c.__module__}.{c.__name__}" for c in exceptions if not issubclass(c, GateError))
    assert outside == []
    doc = server.core.errors.__doc__ or ""
    undrawn = sorted(c.__name__ for c in exceptions if f" {c.__name__} ." not in doc and c is not GateError)
    assert undrawn == []
