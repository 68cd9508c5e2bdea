"""An admin refusal maps to one HTTP answer per kind, built whole: no status or code is set
on an error instance after it is made."""

from __future__ import annotations

import typing

import pytest

from server.admin.refusal import Kind, Refused
from server.core.errors import GatewayError

EXPECTED = {  # kind -> (status, type, code when none is given)
    "invalid": (400, "invalid_request_error", "invalid_request"),
    "not_found": (404, "invalid_request_error", "not_found"),
    "conflict": (409, "invalid_request_error", "invalid_request"),
}


def test_every_kind_has_an_answer():
    assert set(typing.get_args(Kind)) == set(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_refusal_becomes_its_answer(kind):
    error = Refused("no", kind, param="p").http()
    status, type_, code = EXPECTED[kind]
    assert isinstance(error, GatewayError)
    assert (error.status, error.type, error.code, error.param, error.message) == (status, type_, code, "p", "no")
    assert "status" not in vars(error) and "type" not in vars(error)  # the class's own, not patched on


def test_a_refusal_keeps_its_own_code():
    assert Refused("gone", "not_found", code="key_not_found").http().code == "key_not_found"
