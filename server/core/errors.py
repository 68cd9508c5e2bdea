"""The one exception tree of the gateway.

Every exception the server raises on purpose derives from `GateError`. Those a client can
see are `GatewayError`s: each has an HTTP status and an OpenAI error type, and is rendered
at the boundary (`server/web/front.py` on the hot path, `server/web/app.py` `handle_exception` on
Litestar's) into OpenAI's envelope `{"error": {"message", "type", "param", "code"}}`.
Foreign errors are translated where they enter (msgspec in `parse`, aiohttp in the
providers, Litestar's in `handle_exception`). An error is complete when it is made: no
code changes one after it is raised, and none is raised to steer the normal path.

The tree, drawn as httpx draws its own (status and type of the client's answer; a module
named where the class lives elsewhere):

* GateError
  + GatewayError ...................... 500 server_error, code internal_error
  | + InvalidRequest .................. 400 invalid_request_error
  | | - BodyTooLarge .................. 413 request_too_large
  | | - Conflict ...................... 409 (an admin name taken)
  | | - ClientError ................... its own 4xx (another client error Litestar found)
  | | - Unsupported ................... 400 unsupported_operation
  | | - OverBudgetLimit ............... 400 request_exceeds_budget (server/pipeline/admit.py)
  | - Unauthorized .................... 401 authentication_error
  | - Forbidden ....................... 403 permission_error
  | - NotFound ........................ 404 invalid_request_error
  | - MethodNotAllowed ................ 405 invalid_request_error
  | - RateLimited ..................... 429, type "requests" or "tokens"
  | - BudgetExceeded .................. 429 insufficient_quota
  | - UpstreamError ................... the upstream's own status and type
  | + UpstreamUnavailable ............. 502 upstream_error (retryable)
  | | - UpstreamTimeout ............... 504
  | | + UpstreamBadResponse ........... 502
  | |   - SchemaMismatch .............. 502 (server/pipeline/guard_output.py)
  | - ServiceUnavailable .............. 503 server_error
  | - InternalError ................... 500 server_error (a bug; the log has the details)
  - ClientGone ........................ the client left before the body arrived (server/web/http.py)
  - Refused ........................... an admin operation refused (server/admin/refusal.py)
  - ConfigError ....................... gateway.toml unusable (server/core/settings.py)
  - StoreError ........................ the SQLite file cannot be opened (server/store/db.py)
  - StoreRefused ......................... a key or team operation refused (server/store/keys.py)
  - PeriodError ....................... a budget period not understood, also a ValueError (server/core/periods.py)
  - JsonLimitError .................... a body past the parser's limits, also a ValueError (server/core/json_limits.py)
  - ScanTimeout ....................... an input check too slow, also a RuntimeError (server/guardrails/offload.py)

Outside the tree, on purpose: Python's own errors for a bug (TypeError, AssertionError),
ValueError in msgspec validation hooks (msgspec turns it into its ValidationError, which
`ConfigError` then reports), and the errors of loading llama.cpp and model files
(RuntimeError, OSError), which their callers catch and report.
"""

from __future__ import annotations

import msgspec


class ErrorBody(msgspec.Struct, omit_defaults=False):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorEnvelope(msgspec.Struct):
    error: ErrorBody


class GateError(Exception):
    """The root: every exception the server raises on purpose."""


class GatewayError(GateError):
    """A request refused or failed, as the client is answered (see the tree above)."""

    status = 500
    type = "server_error"
    code: str | None = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def envelope(self) -> ErrorEnvelope:
        return ErrorEnvelope(ErrorBody(self.message, self.type, self.param, self.code))


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class BodyTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class Unauthorized(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class Conflict(InvalidRequest):
    """The request clashes with what exists (an admin name taken)."""

    status = 409


class ClientError(InvalidRequest):
    """Another client error the web framework found, with its own status (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Unsupported(InvalidRequest):
    code = "unsupported_operation"


class RateLimited(GatewayError):
    """A key's requests or tokens per minute are used up."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, kind: str, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.type = kind


class BudgetExceeded(GatewayError):
    """A budget (the key's or its team's) cannot cover the request's worst case."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class UpstreamError(GatewayError):
    """An upstream answered with an error; its status is kept."""

    type = "upstream_error"
    code = "upstream_error"

    def __init__(self, status: int, message: str, *, error_type: str | None = None,
                 param: str | None = None, code: str | None = None,
                 retryable: bool = False, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.status = status
        if error_type:
            self.type = error_type
        self.retryable = retryable


class UpstreamUnavailable(GatewayError):
    """No upstream could be reached (connection refused, reset, DNS)."""

    status = 502
    type = "upstream_error"
    code = "upstream_unavailable"
    retryable = True


class UpstreamTimeout(UpstreamUnavailable):
    status = 504
    code = "upstream_timeout"


class UpstreamBadResponse(UpstreamUnavailable):
    """The upstream answered 2xx with something that is not what the protocol says."""

    code = "upstream_bad_response"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "service_unavailable"


class InternalError(GatewayError):
    """A bug in the gateway: the client sees a short message, the log the details."""


_ENCODE = msgspec.json.Encoder().encode


def render(error: GatewayError) -> bytes:
    return _ENCODE(error.envelope())
