"""A guardrail policy made ready to run, and what it does to one request's texts.

`Guard` compiles a policy once (built with the topology, again on reload). `inspect_input`
scans the texts of a request and returns what to do; `OutputGuard` puts redacted values back
into an answer and redacts personal data the answer leaks (values the user sent are theirs
to get back), on a whole answer or, with a sliding window, on a stream of deltas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from server.core.settings_guardrails import GuardrailPolicy
from server.guardrails.base import BUILTIN_KINDS
from server.guardrails.detectors import CustomPattern, Scanner, WordList, builtin_scanner
from server.guardrails.injection import InjectionDetector
from server.guardrails.redact import Redactor, StreamRestorer, restore
from server.guardrails.topics import TopicPolicy


WINDOW = 96  # how far back a stream looks for the start of a value still arriving
# Characters with which personal data and secrets begin or that they contain; prose without
# them streams on at once (only the word still being written is held back).
_BLANK = re.compile(r"[ \n\t]")
SUSPICIOUS = re.compile(r"[0-9@+]|-----|eyJ|AKIA|ASIA|ghp_|gho_|ghs_|github_pat_|xox|sk-|sk_|AIza")


class Guard:
    def __init__(self, policy: GuardrailPolicy, name: str | None = None) -> None:
        self.policy = policy
        self.name = name or "default"
        custom = [CustomPattern(n, r) for n, r in policy.custom.items()]
        custom += [WordList(n, w) for n, w in policy.words.items()]
        self.scanner = Scanner(set(policy.pii), custom=custom) if policy.pii or custom else None
        self.injection = InjectionDetector(threshold=policy.injection_threshold) if policy.injection != "off" else None
        self.topics = (TopicPolicy(allow=policy.topics_allow or None, deny=policy.topics_deny)
                       if policy.topics_allow or policy.topics_deny else None)
        self.output_scanner = builtin_scanner() if policy.output_pii != "off" else None
        # What the cache screens the questions and answers it would keep with: every built-in
        # kind and the site's own, whatever the policy checks on the way in.
        self.screen = (self.scanner if self.scanner is not None and set(policy.pii) >= set(BUILTIN_KINDS)
                       else Scanner(set(BUILTIN_KINDS), custom=custom) if custom else builtin_scanner())

    def action(self, kind: str) -> str:
        return self.policy.actions.get(kind, self.policy.pii_action)


@dataclass
class InputVerdict:
    """What the input checks found and decided."""

    texts: list[str]                           # the texts, redacted where the policy says so
    changed: bool = False
    blocked: str | None = None                 # why the request is refused
    blocked_code: str = "guardrail_blocked"
    local_only: list[str] = field(default_factory=list)   # kinds that keep it on local models
    notes: list[str] = field(default_factory=list)
    redactor: Redactor = field(default_factory=Redactor)
    seen: set[str] = field(default_factory=set)  # every value found in the input
    kinds: dict[str, int] = field(default_factory=dict)  # what was found: kind -> count


def inspect_input(guard: Guard, texts: list[str], user: list[bool]) -> InputVerdict:
    """`texts` are every text the request carries; `user[i]` marks those an end user wrote
    (they get the injection and topic checks; all get the personal-data checks)."""
    verdict = InputVerdict(list(texts))
    kinds = verdict.kinds
    if guard.scanner is not None:
        for i, text in enumerate(texts):
            findings = guard.scanner.scan(text)
            if not findings:
                continue
            redact_these = []
            for f in findings:
                kinds[f.kind] = kinds.get(f.kind, 0) + 1
                verdict.seen.add(f.text)
                action = guard.action(f.kind)
                if action == "block":
                    verdict.blocked = (f"The request contains {f.kind} data, which this site does not allow "
                                       "to be sent to a model.")
                    verdict.blocked_code = "personal_data"
                elif action == "local":
                    verdict.local_only.append(f.kind)
                elif action == "redact":
                    redact_these.append(f)
            if redact_these:
                verdict.texts[i] = verdict.redactor.redact(text, redact_these)
                verdict.changed = True
    if kinds:
        verdict.notes.append("found " + ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())))
    written = "\n".join(t for t, u in zip(texts, user, strict=True) if u)
    if guard.injection is not None and written:
        result = guard.injection.check(written)
        if result.flagged:
            verdict.notes.append(f"injection score {result.score:.2f} ({', '.join(result.rules[:3])})")
            if guard.policy.injection == "block":
                verdict.blocked = "The request looks like an attempt to override the system's instructions."
                verdict.blocked_code = "prompt_injection"
    if guard.topics is not None and written:
        topic = guard.topics.check(written)
        if topic.blocked:
            what = ", ".join(topic.denied) if topic.denied else "none of the allowed topics"
            verdict.notes.append(f"topic: {what}")
            verdict.blocked = f"The request is about a topic this site does not allow here ({what})."
            verdict.blocked_code = "topic_not_allowed"
    return verdict


class OutputGuard:
    """Restores the request's placeholders and redacts leaked personal data in answers."""

    def __init__(self, guard: Guard, mapping: dict[str, str], seen: set[str]) -> None:
        self.guard = guard
        self.mapping = mapping if guard.policy.restore else {}
        self.seen = seen | set(mapping.values())
        self.leaks: dict[str, int] = {}
        self._restorer = StreamRestorer(self.mapping) if self.mapping else None
        self._buf = ""
        self._held = 0  # what the last scan held back, in characters

    @property
    def active(self) -> bool:
        return bool(self.mapping) or self.guard.output_scanner is not None

    def text(self, text: str) -> str:
        """A whole answer."""
        return self._redact(restore(text, self.mapping) if self.mapping else text, final=True)[0]

    def feed(self, delta: str) -> str:
        """A stream's delta: returns what may be sent now (the rest is held back)."""
        if self._restorer is not None:
            delta = self._restorer.feed(delta)
        self._buf += delta
        # Text without a blank cannot move the cut forward (it ends at the word being written),
        # so rescanning the held text for it is skipped until it has doubled: a long run
        # without blanks (digits, base64) costs O(n) in all, not one scan of it per delta.
        if len(self._buf) < 2 * self._held + 64 and not _BLANK.search(delta):
            return ""
        out, self._buf = self._redact(self._buf, final=False)
        self._held = len(self._buf)
        return out

    def flush(self) -> str:
        rest = self._restorer.flush() if self._restorer is not None else ""
        out, self._buf = self._redact(self._buf + rest, final=True)
        return out

    @staticmethod
    def _safe_cut(text: str) -> int:
        """Where a stream may be cut: before the word still being written, and before the
        word in which anything that may begin a value appears within the last WINDOW."""
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
        m = SUSPICIOUS.search(text, max(0, len(text) - WINDOW))
        if m is not None:
            word = max(text.rfind(" ", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
            cut = min(cut, word)
        return cut

    def _redact(self, text: str, final: bool) -> tuple[str, str]:
        """(what may go out, what to keep back)."""
        cut = len(text) if final else self._safe_cut(text)
        scanner = self.guard.output_scanner
        if scanner is None:
            return text[:cut], text[cut:]
        parts, pos = [], 0
        for f in scanner.scan(text):
            if f.text in self.seen:
                continue  # the user's own data, sent back to them
            if not final and f.end > cut:
                cut = min(cut, f.start)  # may still grow: decide when more has arrived
                break
            self.leaks[f.kind] = self.leaks.get(f.kind, 0) + 1
            if self.guard.policy.output_pii == "redact":
                parts.append(text[pos:f.start])
                parts.append(f"[{f.kind.upper()} REDACTED]")
                pos = f.end
        if pos > cut:  # a redaction ran past the cut: send through it
            cut = pos
        parts.append(text[pos:cut])
        return "".join(parts), text[cut:]
