"""Layers import only downwards: every module's imports, read with `ast`, against the rules
docs/architecture.md draws.

Every import counts: at the top, inside a function (a lazy import is still a dependency)
and under `if TYPE_CHECKING` (a type is a dependency too). A rule broken today is listed
in KNOWN, each edge named and explained; the test also fails when a known edge is gone, so
the list can only shrink: delete the line when you fix the edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "cli", "bundles")
# The operator's tools: run at set-up or by hand, never while serving.
TOOLS = ("bundles", "cli.doctor", "cli.tools")

# server/ is one folder a layer, top to bottom (docs/architecture.md draws them):
#   web       the HTTP entry: ASGI app, hot routes, Litestar routes, ASGI sending
#   admin     every admin operation once, and the endpoint table
#   pipeline  the request's stages
#   runtime   a running gateway's state: state, reload, the key cache, alerts
#   observe   traces, metrics, statistics
#   routing   plans, balances and breakers
#   providers upstreams (HTTP and in process)
#   cache     the answer cache; guardrails  checks of text
#   store     the SQLite file
#   core      settings, errors, wire and exchange types, SSE, tokens, prices, llama.cpp's CPU code
WEB, ADMIN, PIPELINE, RUNTIME, OBSERVE = "server.web", "server.admin", "server.pipeline", "server.runtime", "server.observe"
ROUTING, PROVIDERS, CACHE, GUARDRAILS, STORE = ("server.routing", "server.providers", "server.cache",
                                                "server.guardrails", "server.store")
ENTRY = (WEB, ADMIN, PIPELINE)  # the top: what serves a request
STATEFUL = ENTRY + (RUNTIME,)

# (importer's prefix, forbidden prefixes, why). A prefix matches the module itself and
# everything under it ("server.store" matches server.store.db, not server.store_x).
RULES = [
    ("server", ("cli",) + TOOLS, "the runtime never imports the CLI or the tools"),
    ("server.core", STATEFUL + (OBSERVE, ROUTING, PROVIDERS, CACHE, GUARDRAILS, STORE),
     "core is what every layer may use, so it uses none of them"),
    (STORE, STATEFUL + (OBSERVE, ROUTING, PROVIDERS, CACHE, GUARDRAILS), "storage imports nothing above it"),
    (GUARDRAILS, STATEFUL + (OBSERVE, ROUTING, PROVIDERS, CACHE, STORE),
     "guardrails are checks of text and configuration, with no state of their own"),
    (PROVIDERS, STATEFUL + (OBSERVE, ROUTING), "providers are called by routing and the pipeline, never the other way round"),
    (CACHE, STATEFUL + (OBSERVE, ROUTING), "the cache is a service the pipeline calls"),
    (ROUTING, STATEFUL + (OBSERVE,), "routing plans and balances targets for the pipeline"),
    (OBSERVE, STATEFUL + (ROUTING, GUARDRAILS),
     "observation builds traces and metrics from what it is given (a frozen record), not from a stage"),
    (RUNTIME, ENTRY, "the state serves the entry, never the other way round"),
    (PIPELINE, (WEB, ADMIN), "stages know the exchange types in core, not the HTTP entry"),
    (ADMIN, (WEB, PIPELINE), "admin operations are called by the routes and the CLI"),
    (WEB, (STORE,), "the web entry reaches storage only through the admin operations and the stages"),
    (WEB, (f"{PIPELINE}.context",), "the web entry hands the stages an Incoming; the request's context is theirs"),
]

# (importer, imported): rules broken today. Each must still exist (else delete its line).
# None is left: the last three (telemetry reading the live context, settings compiling the
# guardrail policies) were fixed; a new exception must say here why it cannot be fixed.
KNOWN: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute; `from a import b` gives a and a.b (b may be a
    submodule), relative imports resolved against the file's package."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
    return out


def _edges() -> set[tuple[str, str]]:
    edges = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            edges.update((_module(path), target) for target in _imports(path))
    return edges


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _broken(edges: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(importer, imported module) -> the rule it breaks; `from a import b` counts once, as
    the deepest name that is a module we know (a.b if a.b is a module, else a)."""
    modules = {source for source, _ in edges}
    out = {}
    for source, target in edges:
        if target not in modules and target.rpartition(".")[0] in modules:
            continue  # `from a import name`: the edge to `a` is checked on its own
        for importer, forbidden, why in RULES:
            if _under(source, importer) and any(_under(target, f) for f in forbidden):
                out[(source, target)] = why
    return out


@pytest.fixture(scope="module")
def edges() -> set[tuple[str, str]]:
    return _edges()


def test_the_walk_sees_the_project(edges) -> None:
    # A walk that found nothing would make every rule pass: check it sees known imports.
    assert ("server.pipeline.dispatch", "server.providers.base") in edges or any(
        s == "server.pipeline.dispatch" and _under(t, "server.providers") for s, t in edges)
    assert any(s == "cli.commands.bundles" and _under(t, "bundles") for s, t in edges)
    assert len({s for s, _ in edges}) > 100


def test_no_layer_imports_one_above_it(edges) -> None:
    broken = {edge: why for edge, why in _broken(edges).items() if edge not in KNOWN}
    assert not broken, "\n".join(f"{s} imports {t}: {why}" for (s, t), why in sorted(broken.items()))


def test_every_known_exception_still_exists(edges) -> None:
    gone = KNOWN - set(_broken(edges))
    assert not gone, f"fixed, so delete from KNOWN: {sorted(gone)}"


def test_the_rules_catch_a_wrong_import(tmp_path) -> None:
    # The checker itself: a storage module importing the pipeline is reported.
    fake = {("server.store.example", "server.pipeline.context"), ("server.store.example", "server.store.db"),
            ("server.cache.service", "cli.tools.gguf_convert"), ("cli.commands.keys", "server.store.keys")}
    fake |= {("server.web.routes.example", "server.store.keys"), ("server.web.routes.example", "server.admin.x"),
             ("server.pipeline.example", "server.web.http"), ("server.pipeline.example", "server.core.exchange")}
    broken = _broken(fake)
    assert set(broken) == {("server.store.example", "server.pipeline.context"),
                           ("server.cache.service", "cli.tools.gguf_convert"),
                           ("server.web.routes.example", "server.store.keys"),
                           ("server.pipeline.example", "server.web.http")}
