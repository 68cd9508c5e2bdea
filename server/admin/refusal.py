"""`Refused`: the one error an admin operation raises, and its one mapping to HTTP."""

from __future__ import annotations

from typing import Literal

from server.core.errors import Conflict, GateError, GatewayError, InvalidRequest, NotFound

Kind = Literal["invalid", "not_found", "conflict"]


class Refused(GateError):
    """An admin operation refused: `kind` says why, `message` is fit for the operator.

    `code` and `param` go into the OpenAI error envelope when the refusal crosses HTTP.
    """

    def __init__(self, message: str, kind: Kind = "invalid", *, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param

    def http(self) -> GatewayError:
        """The gateway error the admin API answers with (400, 404 or 409)."""
        error_class, default_code = _HTTP[self.kind]
        return error_class(self.message, param=self.param, code=self.code or default_code)


# kind -> (error class, whose status and type the answer has; the code when none is given)
_HTTP: dict[str, tuple[type[GatewayError], str]] = {
    "invalid": (InvalidRequest, InvalidRequest.code),
    "not_found": (NotFound, "not_found"),
    "conflict": (Conflict, Conflict.code),
}
