"""Names the gateway shows outside are spelled once, in server/core/names.py: no other
runtime or CLI module writes a cache status, a shared x-gate-* header or a shared trace key
as a string literal (the test reads every string constant with `ast`)."""

from __future__ import annotations

import ast
from pathlib import Path

from server.core import names
from server.core.names import CacheStatus

ROOT = Path(__file__).resolve().parents[2]
SHARED = {s.value for s in CacheStatus} | {
    v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


def _literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    # Not names: docstrings, text inside f-strings (an evaluator's "MISS" line) and logger
    # names (the logger "gate.cache" is not the trace key).
    skip = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) or (
                isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "getLogger"):
            skip.update(id(sub) for sub in ast.walk(node))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip}


def test_the_shared_names_are_what_users_see() -> None:
    assert SHARED >= {"HIT", "SEMANTIC_HIT", "MISS", "BYPASS", "x-gate-request-id", "x-gate-cache", "gate.target"}
    assert f"{CacheStatus.SEMANTIC_HIT}" == "SEMANTIC_HIT"  # headers and rows carry the value


def test_no_module_spells_a_shared_name_again() -> None:
    home = ROOT / "server" / "core" / "names.py"
    spelled = {}
    for package in ("server", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != home and (found := _literals(path) & SHARED):
                spelled[str(path.relative_to(ROOT))] = sorted(found)
    assert not spelled, f"use server.core.names instead: {spelled}"
