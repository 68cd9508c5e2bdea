"""Upstream error text, cleaned of credentials before the gateway keeps or shows any of it.

An upstream that refuses a key often echoes it ("Incorrect API key provided: Bearer sk-...",
"sk-proj-****wxyz", every header it got). Whatever an upstream says in an error passes
through `Scrubber.scrub` in the provider layer, before it can reach a client, a log, a
trace, the ledger or provider_health. Removed, each replaced by `[REDACTED]`:

- every configured secret (each provider's `api_key` and `headers` values, the admin
  token) in full, raw, percent-encoded (either hex case, `+` for spaces), base64 (standard
  and URL-safe, at any alignment, so inside `Basic base64(user:secret)` too) and hex;
- partial echoes: any run of 8 or more characters of one of those forms, and a whole word
  that is the first or last 4 to 7 characters of a secret (the masked `sk-****wxyz` form);
- anything the guardrails' secret detector recognises (provider key formats, JWTs, private
  keys), and the word after `Bearer` or `Basic` when it looks like a token.

Personal data the built-in detectors find (e-mail, phone, card, IBAN, SSN, IP address) is
replaced by its kind (`[EMAIL]`, `[CARD]`, ...): upstreams quote the request in their errors
(vLLM's validation errors carry the offending input, a proxy's 500 page the body), and that
text is stored in `ledger.error` and `provider_health.last_error`. Control characters (but
tab and newline) become U+FFFD: `gate top` would write an ESC to the operator's terminal.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import msgspec

from server.guardrails.detectors import SECRET, builtin_scanner
from server.core.settings import ConfigError, Settings, admin_token, resolve_secret, secret_refs

REDACTED = "[REDACTED]"
GRAM = 8      # this many characters in a row of a secret's form are an echo of it
EDGE = 4      # a word this long or longer that starts or ends a secret is a partial echo
MAX_TEXT = 2000  # what is kept of an upstream's error message (scrubbing is linear in it)
MAX_EVENT = 16384  # a larger error event in a stream is replaced, not scrubbed

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 but tab and newline, and DEL
_WORD = re.compile(r"[A-Za-z0-9+/=_\-~%]+")
_AUTH = re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z0-9._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{8,}")
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode


def _b64_cores(raw: bytes) -> list[str]:
    """The base64 characters that encode `raw` whatever bytes surround it (3 alignments)."""
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0").decode()
        # Drop the characters that also carry the neighbours' bits, at both ends.
        start = (shift * 8 + 5) // 6
        end = ((shift + len(raw)) * 8) // 6
        core = encoded[start:end]
        out += [core, core.replace("+", "-").replace("/", "_")]
    return out


def forms(secret: str) -> set[str]:
    """The ways an upstream may echo a secret: raw, percent-encoded, base64, hex."""
    raw = secret.encode()
    encoded = quote(secret, safe="")
    out = {secret, encoded, quote_plus(secret),
           re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded),
           raw.hex(), raw.hex().upper(), *_b64_cores(raw)}
    return {f for f in out if len(f) >= EDGE}


class Scrubber:
    """Built once from the configuration; `scrub` is safe to share between requests."""

    __slots__ = ("_short", "_grams", "_edges", "_whole")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        short: set[str] = set()
        grams: set[str] = set()
        edges: set[str] = set()
        whole: set[str] = set()
        for secret in secrets:
            if len(secret) < EDGE:
                continue  # too short to tell from ordinary text
            encoded = forms(secret)
            whole.update(f for f in encoded if len(f) >= GRAM)
            for form in encoded:
                if len(form) < GRAM:
                    short.add(form)
                grams.update(form[i:i + GRAM] for i in range(len(form) - GRAM + 1))
            for n in range(EDGE, min(GRAM, len(secret))):
                edges.update((secret[:n], secret[-n:]))
        self._short = list(short)
        self._grams = grams
        self._edges = edges
        ordered = sorted(whole, key=len, reverse=True)
        self._whole = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __repr__(self) -> str:
        return f"Scrubber({len(self._grams)} grams)"  # never a secret

    @classmethod
    def from_settings(cls, settings: Settings) -> Scrubber:
        """Every secret the configuration holds: the providers' keys and headers, the admin
        token. One that does not resolve is skipped: it is never sent, so never echoed (the
        provider that needs it fails to build, with its own error)."""
        found: list[str] = []
        for _, key, ref in secret_refs(settings):
            try:
                found.append(resolve_secret(ref, settings.source, key).reveal())
            except ConfigError:
                continue
        try:
            token = admin_token(settings)
        except ConfigError:
            token = None
        if token is not None:
            found.append(token.reveal())
        return cls(found)

    def holds(self, text: str) -> bool:
        """Whether `text` holds a configured secret whole, in any of its forms (one regex
        scan in C: cheap enough for every answer the cache would keep)."""
        return self._whole is not None and self._whole.search(text) is not None

    def scrub(self, text: str) -> str:
        """`text` with every credential in it replaced, and no terminal control character."""
        text = self._echoes(_CONTROL.sub("\ufffd", text))
        for f in reversed(builtin_scanner().scan(text)):  # secrets and every kind of personal data;  # from the end, so earlier offsets stay valid
            text = text[:f.start] + (REDACTED if f.kind == SECRET else f"[{f.kind.upper()}]") + text[f.end:]
        return _AUTH.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)

    def scrub_event(self, data: bytes) -> bytes:
        """An SSE event's data: unchanged unless it is a JSON object with an `error` key; then
        every string in it scrubbed (escapes decoded first), or, when it is too large to
        scrub cheaply, replaced by a plain error. (Not JSON: the relay refuses it anyway.)"""
        try:
            event = _DECODE(data)
        except msgspec.DecodeError:
            return data
        if not isinstance(event, dict) or "error" not in event:
            return data
        if len(data) > MAX_EVENT:
            return _ENCODE({"error": {"message": "the upstream sent an error event too large to be "
                                      "checked for credentials", "type": "upstream_error",
                                      "param": None, "code": "upstream_error"}})
        return _ENCODE(self._walk(event))

    def _walk(self, value: object) -> object:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        return value

    def _echoes(self, text: str) -> str:
        """The configured secrets' forms and runs of GRAM characters of them, each widened to
        the whole word around it, and words that are a secret's first or last EDGE..GRAM-1
        characters."""
        marked = bytearray(len(text))
        for form in self._short:  # forms shorter than GRAM have no grams
            i = text.find(form)
            while i >= 0:
                marked[i:i + len(form)] = b"\1" * len(form)
                i = text.find(form, i + 1)
        grams = self._grams
        for i in range(len(text) - GRAM + 1 if grams else 0):
            if text[i:i + GRAM] in grams:
                marked[i:i + GRAM] = b"\1" * GRAM
        for m in _WORD.finditer(text):
            if m.group() in self._edges or any(marked[m.start():m.end()]):
                marked[m.start():m.end()] = b"\1" * (m.end() - m.start())
        if not any(marked):
            return text
        out, i = [], 0
        while (start := marked.find(1, i)) >= 0:  # each run of marked characters: one placeholder
            end = marked.find(0, start)
            end = len(text) if end < 0 else end
            out += [text[i:start], REDACTED]
            i = end
        out.append(text[i:])
        return "".join(out)
