"""gateway.toml's [guardrails] as plain data: the default policy, and named policies that
models and keys may choose (`[models.X] guardrails = "strict"`, `gate keys create
--guardrails strict`). server/guardrails/policies.py compiles them where the runtime builds
its topology (and the CLI, to check a file)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

BUILTIN = ("email", "phone", "card", "iban", "ssn", "ip", "secret")

Action = Literal["redact", "block", "flag", "local"]


class GuardrailPolicy(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Personal data and secrets in what goes in. "local": the request may only go to local
    # targets (refused when a route has none); "redact": the model sees placeholders, the
    # answer gets the values back (restore); "block": refused; "flag": noted on the trace.
    pii: list[str] = msgspec.field(default_factory=lambda: list(BUILTIN))
    pii_action: Action = "local"
    actions: dict[str, Action] = {}              # per kind, e.g. { secret = "block" }
    restore: bool = True
    custom: dict[str, str] = {}                  # name = regex
    words: dict[str, list[str]] = {}             # name = [words], matched case-insensitively
    injection: Literal["block", "flag", "off"] = "block"
    injection_threshold: Annotated[float, Meta(gt=0, le=1)] = 0.5
    topics_deny: dict[str, list[str]] = {}
    topics_allow: dict[str, list[str]] = {}      # when set, a request must match one
    # Answers that leak personal data (cache hits included): "redact" or "flag".
    output_pii: Literal["redact", "flag", "off"] = "redact"
    # Check answers to response_format json_schema requests against the schema.
    validate_json: bool = True
    # A check that fails unexpectedly: refuse the request (closed) or let it pass (open).
    fail: Literal["open", "closed"] = "closed"
    # How long the input checks of one request may take (large texts run in a helper
    # process, off the event loop); longer counts as a failed check (see `fail`).
    scan_timeout_s: Annotated[float, Meta(gt=0, le=600)] = 30.0


class GuardrailSettings(GuardrailPolicy, frozen=True, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    policies: dict[str, GuardrailPolicy] = {}
