"""A Hypothesis fuzz pass against a running gateway: bodies, headers, paths and query strings
on /v1/* and /admin/*, sent over a raw socket so that nothing is cleaned up on the way.

For every request: no 5xx except a 502/503/504 that an upstream caused (the fake upstream's
own failures, a target that is down), and every non-2xx answer is the OpenAI error envelope.
Afterwards the gateway still answers /health/live and its log has no internal error.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
import urllib.request
from http.client import HTTPResponse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.live.conftest import ADMIN_TOKEN, Gate, live_config

# Upstream trouble the fake plays on purpose (and a provider that is down): these may be 5xx.
UPSTREAM_CODES = {"upstream_error", "upstream_unavailable", "upstream_timeout", "upstream_bad_response",
                  "service_unavailable"}
MODELS = ["ok", "ok", "ok", "echo", "nousage", "bad400", "malformed", "reset", "cut", "alldown", "failover",
          "nofailover", "fail500", "missing-model"]
# (method, path, body kind): {x} is a random path segment, {k} the victim key or a random one.
ROUTES = [
    ("POST", "/v1/chat/completions", "chat"), ("POST", "/v1/chat/completions", "chat"),
    ("POST", "/v1/chat/completions", "chat"), ("POST", "/v1/completions", "chat"),
    ("POST", "/v1/embeddings", "chat"), ("GET", "/v1/models", None), ("GET", "/v1/models/{x}", None),
    ("GET", "/admin/keys", None), ("POST", "/admin/keys", "admin"), ("POST", "/admin/keys", "admin"),
    ("GET", "/admin/keys/{k}", None), ("POST", "/admin/keys/{k}/limits", "admin"),
    ("POST", "/admin/keys/{x}/revoke", None), ("POST", "/admin/keys/{x}/rotate", None),
    ("GET", "/admin/teams", None), ("POST", "/admin/teams", "admin"), ("GET", "/admin/budgets", None),
    ("POST", "/admin/budgets", "admin"), ("POST", "/admin/budgets", "admin"),
    ("POST", "/admin/budgets/{x}/{k}/remove", None), ("GET", "/admin/events", None),
    ("GET", "/admin/spend", None), ("GET", "/admin/requests", None), ("GET", "/admin/providers", None),
    ("GET", "/admin/stats", None), ("GET", "/admin/traces", None), ("GET", "/admin/traces/{x}", None),
    ("GET", "/admin/cache", None), ("GET", "/admin/cache/entries", None), ("POST", "/admin/cache/clear", None),
]
QUERY_KEYS = ["limit", "window", "after", "since", "by", "search", "alias"]
HOSTILE_NUMBERS = ["inf", "-inf", "nan", "1e400", "-1e400", "1" + "0" * 30, "1" + "0" * 5000, "-1", "0",
                   "0.5", "1e20", "99999999999999999999", "9223372036854775808", "2", "50"]


@pytest.fixture(scope="module")
def fuzz_gate(tmp_path_factory, fake_upstream):
    server = Gate(tmp_path_factory.mktemp("gate-fuzz"), live_config(fake_upstream.url, cache="semantic = false"))
    server.key = server.create_key("fuzz")
    server.create_key("victim")  # the admin calls act on this one, not on the fuzzing key
    server.cli("teams", "create", "fuzz-team")
    server.start()
    yield server
    server.stop()


# -- strategies ----------------------------------------------------------------------------------

def raw_json_number() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([n for n in HOSTILE_NUMBERS if n not in ("inf", "-inf", "nan")]),
                     st.integers().map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr),
                     st.integers(min_value=300, max_value=5000).map(lambda n: f"1e{n}"))


def raw_json(max_leaves: int = 12) -> st.SearchStrategy[str]:
    """JSON text whose numbers may be out of any range (so it is built as text)."""
    leaves = st.one_of(st.just("null"), st.booleans().map(lambda b: "true" if b else "false"), raw_json_number(),
                       st.text(max_size=30).map(json.dumps))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(st.text(max_size=10), inner, max_size=4).map(
            lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}")),
        max_leaves=max_leaves)


def deep(n: int) -> str:
    return "[" * n + "]" * n


@st.composite
def chat_like(draw) -> bytes:
    """A request body that is almost right: real fields with hostile values and types."""
    value = raw_json()
    fields = {"model": draw(st.one_of(st.sampled_from(MODELS).map(json.dumps), value))}
    content = draw(st.one_of(st.text(max_size=200).map(json.dumps), value))
    role = draw(st.one_of(st.sampled_from(["user", "system", "assistant", "tool"]).map(json.dumps), value))
    fields[draw(st.sampled_from(["messages", "prompt", "input"]))] = draw(st.one_of(
        st.just(f'[{{"role":{role},"content":{content}}}]'), value, st.just(content)))
    for name in draw(st.lists(st.sampled_from(
            ["stream", "max_tokens", "temperature", "n", "seed", "stop", "stream_options", "user", "tools",
             "response_format", "metadata", "max_completion_tokens", "top_p", "x_vendor"]), max_size=4)):
        fields[name] = draw(st.one_of(value, raw_json_number(), st.integers(1, 200).map(deep)))
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}").encode()


@st.composite
def admin_like(draw) -> bytes:
    value = raw_json()
    names = ["name", "models", "rpm", "tpm", "budget_usd", "budget_tokens", "expires_at", "team", "period",
             "scope", "owner", "usd", "tokens", "soft_pct", "sensitive", "guardrails", "log_bodies", "allow_cloud"]
    sane = {"name": st.text(min_size=1, max_size=12), "owner": st.sampled_from(["victim", "fuzz-team"]),
            "scope": st.sampled_from(["key", "team"]), "period": st.sampled_from(["monthly", "daily", "1h"])}
    fields = {n: draw(st.one_of(value, raw_json_number(), sane[n].map(json.dumps) if n in sane else value))
              for n in draw(st.lists(st.sampled_from(names), max_size=5, unique=True))}
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in fields.items()) + "}").encode()


bodies = st.one_of(chat_like(), admin_like(), raw_json().map(str.encode), st.binary(max_size=300),
                   st.integers(60, 20_000).map(lambda n: ('{"model":"ok","x":' + deep(n) + "}").encode()),
                   st.just(b""))
# Path segments and query values: any text, or any bytes (invalid UTF-8 once percent-decoded).
segment = st.one_of(st.text(min_size=1, max_size=20), st.binary(min_size=1, max_size=12)).map(
    lambda s: urllib.parse.quote(s, safe=""))
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=60)


@st.composite
def requests(draw, key: str) -> bytes:
    method, path, kind = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    path = path.replace("{k}", draw(st.one_of(st.just("victim"), segment)))
    while "{x}" in path:
        path = path.replace("{x}", draw(segment), 1)
    query = draw(st.dictionaries(st.sampled_from(QUERY_KEYS), st.one_of(
        st.sampled_from(HOSTILE_NUMBERS), st.text(max_size=20), st.binary(max_size=12)), max_size=3))
    if query:
        path += "?" + urllib.parse.urlencode(query)
    token = ADMIN_TOKEN if path.startswith("/admin") else key
    auth = draw(st.sampled_from([f"Bearer {token}"] * 12 + [f"Bearer  {token}", f"bearer {token} ",
                                                           "Bearer sk-gate-nope", "Basic abc", ""]))
    headers = {"Host": "127.0.0.1", "Connection": "close", "Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    for name in draw(st.lists(st.sampled_from(["x-gate-cache-ttl", "x-gate-cache-threshold", "x-gate-local-only",
                                                "cache-control", "content-type", "x-request-id", "accept"]),
                              max_size=3)):
        headers[name] = draw(st.one_of(st.sampled_from(HOSTILE_NUMBERS), header_text)).strip()
    own = {"chat": chat_like(), "admin": admin_like()}.get(kind or "", bodies)
    body = draw(st.one_of(own, own, own, bodies)) if method in ("POST", "PUT", "PATCH") else b""
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def send(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(raw)
        response = HTTPResponse(s)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def check(status: int, headers: dict[str, str], body: bytes, raw: bytes) -> None:
    where = raw[:300]
    if status >= 500:
        assert status in (502, 503, 504), (status, body[:300], where)
    if status >= 400:
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}, (body[:300], where)
        assert isinstance(error["message"], str) and error["message"], (body[:300], where)
        if status >= 500:
            assert error["code"] in UPSTREAM_CODES, (status, body[:300], where)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_no_input_gets_a_5xx_or_a_body_outside_the_error_envelope(fuzz_gate, data):
    raw = data.draw(requests(fuzz_gate.key))
    check(*send(fuzz_gate.port, raw), raw)


def test_the_gateway_survived_the_fuzz(fuzz_gate: Gate):
    with urllib.request.urlopen(fuzz_gate.base_url + "/health/live", timeout=10) as r:
        assert r.status == 200
    assert fuzz_gate.alive
    log = fuzz_gate.stderr()
    assert " failed: " not in log and "Traceback" not in log, log[-3000:]
