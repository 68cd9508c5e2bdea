"""Input/output guardrails as pure building blocks: no I/O, no network, no state per request.

    scanner = Scanner({"email", "card", "secret"}, custom=[WordList("client", ["Acme Corp"])])
    redactor = Redactor()                                   # one per request
    safe = redactor.redact(text, scanner.scan(text))        # "[EMAIL_1] asked about [CARD_1]"
    answer = restore(model_answer, redactor.mapping)        # or StreamRestorer for SSE deltas

    InjectionDetector().check(text)   # InjectionResult(score, rules, flagged)
    TopicPolicy(allow=..., deny=...).check(text)            # TopicResult(denied, allowed, ...)

Scanner, InjectionDetector and TopicPolicy compile everything once and are safe to share
across requests (build them in the lifespan, keep them on GatewayState); Redactor and
StreamRestorer hold one request's placeholders.
"""

from server.guardrails.base import BUILTIN_KINDS, Finding
from server.guardrails.detectors import (
    CustomPattern,
    Scanner,
    WordList,
    resolve_overlaps,
)
from server.guardrails.injection import (
    DEFAULT_THRESHOLD,
    InjectionDetector,
    InjectionResult,
)
from server.guardrails.injection_rules import P, Rule
from server.guardrails.redact import Redactor, StreamRestorer, redact, restore
from server.guardrails.topics import TopicPolicy, TopicResult

__all__ = [
    "BUILTIN_KINDS",
    "DEFAULT_THRESHOLD",
    "CustomPattern",
    "Finding",
    "InjectionDetector",
    "InjectionResult",
    "P",
    "Redactor",
    "Rule",
    "Scanner",
    "StreamRestorer",
    "TopicPolicy",
    "TopicResult",
    "WordList",
    "redact",
    "resolve_overlaps",
    "restore",
]
