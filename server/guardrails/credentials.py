"""Secret detector: API keys, tokens and private keys that must never reach a model.

Every finding has kind `secret`; `detail` names the type (`aws_access_key`, `github_token`,
`private_key`, `jwt`, ...). Provider keys are matched by their documented prefixes and
lengths. Two types need more than a prefix:

- an AWS secret access key is any 40-character base64 string, so it counts only with an
  AWS word (`aws`, `secret_access_key`, ...) within 100 characters before it or 40 after,
  and only if it mixes upper case, lower case and digits (a 40-hex git SHA never does);
- `sk-...` keys (OpenAI, Anthropic, this gateway's own `sk-gate-...`) must carry at least
  20 random characters with digits and both cases, so `sk-learn-compatible` is no key;
- a JWT's first part must decode to a JSON object with `alg` or `typ`.
"""

from __future__ import annotations

import base64
import binascii
import re

import msgspec

from server.guardrails.base import SECRET, Finding

_END = r"(?![A-Za-z0-9_\-])"
_START = r"(?<![A-Za-z0-9_\-])"
_RULES: tuple[tuple[str, str], ...] = (
    ("aws_access_key", r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|AROA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
    ("github_token", rf"{_START}(?:gh[pousr]_[A-Za-z0-9]{{36,251}}|github_pat_[A-Za-z0-9_]{{50,251}}){_END}"),
    ("gitlab_token", rf"{_START}glpat-[A-Za-z0-9_\-]{{20,}}{_END}"),
    ("slack_token", rf"{_START}xox[abposr]-(?:\d+-)+[A-Za-z0-9\-]{{8,}}{_END}"),
    ("stripe_key", rf"{_START}(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{{16,}}{_END}"),
    ("google_api_key", rf"{_START}AIza[0-9A-Za-z_\-]{{35}}{_END}"),
    ("huggingface_token", rf"{_START}hf_[A-Za-z0-9]{{30,40}}{_END}"),
    ("api_key", rf"{_START}sk-(?:[a-z]{{2,10}}-)?(?P<skbody>[A-Za-z0-9_\-]{{20,}}){_END}"),
    ("jwt", rf"{_START}(?P<jwthead>eyJ[A-Za-z0-9_\-]{{8,}})\.[A-Za-z0-9_\-]{{4,}}\.[A-Za-z0-9_\-]*{_END}"),
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?:[\r\n]+[A-Za-z0-9+/=:\- ]+)*)",
    ),
)
_SECRETS = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in _RULES))
# A cheap pre-test: no secret can be present if none of these substrings is.
_HINTS = re.compile(r"AKIA|ASIA|AIDA|AROA|A[BCGINP][A-Z]A|gh[pousr]_|github_pat_|glpat-|xox|_live_|_test_|AIza|hf_|sk-|eyJ|PRIVATE KEY")

_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_CONTEXT = re.compile(r"aws|amazon|secret_?access|access_?key|\bs3\b", re.IGNORECASE)
_JSON = msgspec.json.Decoder()


class SecretDetector:
    kind = SECRET

    def detect(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        if _HINTS.search(text):
            for m in _SECRETS.finditer(text):
                name = m.lastgroup or ""
                if name == "api_key" and not _random_enough(m.group("skbody")):
                    continue
                if name == "jwt" and not _jwt_header(m.group("jwthead")):
                    continue
                out.append(Finding(SECRET, m.start(), m.end(), m.group(), name))
        if _AWS_CONTEXT.search(text):
            for m in _AWS_SECRET.finditer(text):
                key = m.group()
                if not (_random_enough(key) and _AWS_CONTEXT.search(text, max(0, m.start() - 100), m.end() + 40)):
                    continue
                if any(f.start <= m.start() < f.end for f in out):
                    continue
                out.append(Finding(SECRET, m.start(), m.end(), key, "aws_secret_key"))
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
