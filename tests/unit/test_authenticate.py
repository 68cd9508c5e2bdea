"""authenticate.principal: a request's headers and the state give the caller, or a 401, for
the pipeline's stage and for GET /v1/models alike."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from server.core.errors import Unauthorized
from server.pipeline import authenticate
from server.runtime.auth_cache import AuthCache
from server.store import db as store_db
from tests.conftest import make_key


@pytest.fixture
def state(tmp_path):
    path = str(tmp_path / "gate.db")
    key = make_key(path, "app", models=["ok"])
    conn = store_db.connect(path)
    # The two parts of GatewayState that authentication reads: the file and the key cache.
    yield SimpleNamespace(db=conn, auth=AuthCache(), key=key)
    conn.close()


def test_a_valid_key_gives_its_principal(state) -> None:
    p = authenticate.principal({"authorization": f"Bearer {state.key}"}, state, time.time())
    assert p.name == "app" and p.may_use("ok") and not p.may_use("other")


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_api_key"),
    ({"authorization": "Basic abc"}, "missing_api_key"),
    ({"authorization": "Bearer sk-gate-unknown"}, "invalid_api_key"),
])
def test_no_key_or_a_wrong_one_is_refused(state, headers, code) -> None:
    with pytest.raises(Unauthorized) as refused:
        authenticate.principal(headers, state, time.time())
    assert refused.value.status == 401 and refused.value.code == code


def test_an_expired_key_is_refused(state, tmp_path) -> None:
    key = make_key(str(tmp_path / "gate.db"), "old", expires_at=time.time() + 60)
    assert authenticate.principal({"authorization": f"Bearer {key}"}, state, time.time()).name == "old"
    with pytest.raises(Unauthorized):
        authenticate.principal({"authorization": f"Bearer {key}"}, state, time.time() + 120)
