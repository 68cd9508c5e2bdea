"""Secret detector: API keys, tokens and private keys that must never reach a model.

Every finding has kind `secret`; `detail` names the type (`aws_access_key`, `github_token`,
`private_key`, `jwt`, ...). Provider keys are matched by their documented prefixes and
lengths. Two types need more than a prefix:

- an AWS secret access key is any 40-character base64 string, so it counts only with an
  AWS word (`aws`, `secret_access_key`, ...) within 100 characters before it or 40 after,
  and only if it mixes upper case, lower case and digits (a 40-hex git SHA never does);
- `sk-...` keys (OpenAI, Anthropic, this gateway's own `sk-gate-...`) must carry at least
  20 random characters with digits and both cases, so `sk-learn-compatible` is no key;
- a JWT's first part must decode to a JSON object with `alg` or `typ`;
- a key body with fewer than 6 distinct characters or placeholder words (`XXXX`, `your`,
  `example`, `token`, `here`, `...`) is documentation, not a key.
"""

from __future__ import annotations

import base64
import binascii
import re

import msgspec

from server.guardrails.base import SECRET, Finding

_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"
_AWS_ID_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "AROA", "ANPA", "ANVA", "APKA")
# (type, substrings one of which must occur, regex): a rule's regex runs only when a hint occurs.
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("aws_access_key", _AWS_ID_PREFIXES,
     rf"(?<![A-Za-z0-9])(?:{'|'.join(_AWS_ID_PREFIXES)})(?P<body>[A-Z0-9]{{16}})(?![A-Za-z0-9])"),
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     rf"{_START}(?:gh[pousr]_(?P<body>[A-Za-z0-9]{{36,251}})|github_pat_[A-Za-z0-9_]{{50,251}}){_END}"),
    ("gitlab_token", ("glpat-",), rf"{_START}glpat-(?P<body>[A-Za-z0-9_\-]{{20,}}){_END}"),
    ("slack_token", ("xox",), rf"{_START}xox[abposr]-(?:\d+-)+(?P<body>[A-Za-z0-9\-]{{8,}}){_END}"),
    ("stripe_key", ("_live_", "_test_"), rf"{_START}(?:sk|rk)_(?:live|test)_(?P<body>[A-Za-z0-9]{{16,}}){_END}"),
    ("google_api_key", ("AIza",), rf"{_START}AIza(?P<body>[0-9A-Za-z_\-]{{35}}){_END}"),
    ("huggingface_token", ("hf_",), rf"{_START}hf_(?P<body>[A-Za-z0-9]{{30,40}}){_END}"),
    ("api_key", ("sk-",), rf"{_START}sk-(?:[a-z]{{2,10}}-)?(?P<body>[A-Za-z0-9_\-]{{20,}}){_END}"),
    ("jwt", ("eyJ",), rf"{_START}(?P<head>eyJ[A-Za-z0-9_\-]{{8,}})\.[A-Za-z0-9_\-]{{4,}}\.[A-Za-z0-9_\-]*{_END}"),
    ("private_key", ("PRIVATE KEY",),
     r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
     r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?:[\r\n]+[A-Za-z0-9+/=:\- ]+)*)"),
)
_COMPILED = tuple((name, hints, re.compile(rx)) for name, hints, rx in _RULES)
_PLACEHOLDER = re.compile(r"(?i)x{4}|\*{4}|\.{3}|0{8}|your|example|token|secret|here")

_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_WORDS = (
    "aws", "amazon", "secret_access", "secretaccess", "secret access", "access_key", "accesskey", "access key",
)
_JSON = msgspec.json.Decoder()


class SecretDetector:
    kind = SECRET

    def detect(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for name, hints, regex in _COMPILED:
            if not any(h in text for h in hints):
                continue
            for m in regex.finditer(text):
                body = m.groupdict().get("body")
                if body is not None and (len(set(body)) < 6 or _PLACEHOLDER.search(body)):
                    continue  # "ghp_XXXX...", "AKIAXXXXXXXXXXXXXXXX", "sk-your-token-here..."
                if name == "api_key" and not _random_enough(body or ""):
                    continue
                if name == "jwt" and not _jwt_header(m.group("head")):
                    continue
                out.append(Finding(SECRET, m.start(), m.end(), m.group(), name))
        lowered = text.lower()
        if any(w in lowered for w in _AWS_WORDS):
            for m in _AWS_SECRET.finditer(text):
                window = lowered[max(0, m.start() - 100) : m.end() + 40]
                if not (_random_enough(m.group()) and any(w in window for w in _AWS_WORDS)):
                    continue
                if any(f.start <= m.start() < f.end for f in out):
                    continue
                out.append(Finding(SECRET, m.start(), m.end(), m.group(), "aws_secret_key"))
        return out


def _random_enough(body: str) -> bool:
    """Digits, upper and lower case all present: random keys have them, words and hex don't."""
    return (
        any(c.isdigit() for c in body)
        and any(c.isupper() for c in body)
        and any(c.islower() for c in body)
    )


def _jwt_header(part: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        header = _JSON.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return False
    return isinstance(header, dict) and ("alg" in header or "typ" in header)
