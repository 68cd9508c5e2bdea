"""The one exception tree of the gateway.

Every error a client can see is a `GatewayError` with an HTTP status and an OpenAI error
type; `server.web.app` renders them all through one handler into the OpenAI error envelope
`{"error": {"message", "type", "param", "code"}}`. Foreign errors are translated where they
enter (msgspec in `parse`, aiohttp in the providers).
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


class GatewayError(Exception):
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
