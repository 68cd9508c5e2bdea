"""Names the gateway shows outside, spelled once: the cache statuses (the `x-gate-cache`
header, the ledger's `cache` column, the trace's `gate.cache`), the response headers the
gateway adds, and the trace attribute keys that more than one module reads or writes."""

from __future__ import annotations

from enum import StrEnum


class CacheStatus(StrEnum):
    """What the answer cache did for a request. A `str`: it goes into headers, the ledger
    and traces as its value."""

    HIT = "HIT"                    # the exact question was answered before
    SEMANTIC_HIT = "SEMANTIC_HIT"  # a question close enough in meaning was
    MISS = "MISS"                  # looked, found nothing: the upstream answers
    BYPASS = "BYPASS"              # not looked up (the request or policy says so)


CACHE_HITS = frozenset({CacheStatus.HIT, CacheStatus.SEMANTIC_HIT})

# Response headers the gateway adds (lower case, as ASGI carries them).
REQUEST_ID_HEADER = "x-gate-request-id"
CACHE_HEADER = "x-gate-cache"
CACHE_SIMILARITY_HEADER = "x-gate-cache-similarity"

# Trace attributes read by more than the module that writes them.
ATTR_TARGET = "gate.target"      # on an upstream span: provider:model tried
ATTR_STATUS = "gate.status"      # HTTP status of the request, or of one upstream try
ATTR_PROVIDER = "gate.provider"  # on the root span: the provider that answered
ATTR_CACHE = "gate.cache"        # on the root span: a CacheStatus
