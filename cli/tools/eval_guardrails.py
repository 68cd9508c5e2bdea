"""Measure the guardrails on the labelled corpora: `scripts/eval-guardrails` runs this.

    python -m cli.tools.eval_guardrails [--data DIR] [--errors] [--threshold 0.5]

PII: span-level exact match on (kind, text) over every line of pii_corpus.jsonl, all
detectors run on every line, so a detector that fires on another kind's example counts
as a false positive. Injection: line-level precision/recall of `flagged` at a few
thresholds over injection_corpus.jsonl. Timing: microseconds per KB of realistic text
(the corpus lines joined into ~2 KB prompts), per detector family and for the whole scan.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from server.guardrails.base import BUILTIN_KINDS
from server.guardrails.detectors import Scanner
from server.guardrails.injection import DEFAULT_THRESHOLD, InjectionDetector

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "guardrails"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class Span(msgspec.Struct, frozen=True):
    kind: str
    text: str


class PiiLine(msgspec.Struct, frozen=True):
    text: str
    spans: list[Span]
    group: str = ""
    label: str = ""
    note: str = ""


class InjectionLine(msgspec.Struct, frozen=True):
    text: str
    label: str  # "attack" or "benign"
    note: str = ""


class Score(msgspec.Struct):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def load_jsonl(path: Path, kind: type) -> list:
    decoder = msgspec.json.Decoder(kind)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


def evaluate_pii(lines: Iterable[PiiLine], scanner: Scanner | None = None) -> tuple[dict[str, Score], list[str]]:
    """Per-kind span scores and a readable list of every miss and false alarm."""
    scanner = scanner or Scanner()
    scores: dict[str, Score] = {k: Score() for k in BUILTIN_KINDS}
    errors: list[str] = []
    for line in lines:
        gold = Counter((s.kind, s.text) for s in line.spans)
        got = Counter((f.kind, f.text) for f in scanner.scan(line.text))
        for key in gold | got:
            score = scores.setdefault(key[0], Score())
            hit = min(gold[key], got[key])
            score.tp += hit
            if gold[key] > hit:
                score.fn += gold[key] - hit
                errors.append(f"MISS {key[0]:<7} {key[1]!r} in {line.text!r}")
            if got[key] > hit:
                score.fp += got[key] - hit
                errors.append(f"FALSE {key[0]:<6} {key[1]!r} in {line.text!r}")
    return scores, errors


def evaluate_injection(
    lines: list[InjectionLine], thresholds: Iterable[float] = THRESHOLDS
) -> tuple[list[tuple[float, Score]], list[tuple[float, InjectionLine, list[str]]]]:
    detector = InjectionDetector()
    scored = [(*detector.score(line.text), line) for line in lines]
    rows = []
    for t in thresholds:
        s = Score()
        for value, _, line in scored:
            flagged, attack = value >= t, line.label == "attack"
            s.tp += flagged and attack
            s.fp += flagged and not attack
            s.fn += attack and not flagged
        rows.append((t, s))
    return rows, [(value, line, rules) for value, rules, line in scored]


def per_kb_us(fn: Callable[[str], object], texts: list[str], rounds: int = 20) -> float:
    """Microseconds per KB of `fn` over `texts`, the best of `rounds` (the least disturbed
    by other processes on the machine)."""
    size_kb = sum(len(t.encode()) for t in texts) / 1024
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for t in texts:
            fn(t)
        samples.append((time.perf_counter() - start) * 1e6 / size_kb)
    return min(samples)


def prompts_of(texts: list[str], size: int = 2048) -> list[str]:
    """The corpus texts packed into prompts of about `size` characters."""
    out, cur = [], ""
    for t in texts:
        cur += t + "\n"
        if len(cur) >= size:
            out.append(cur)
            cur = ""
    return out or [cur]


def report(data: Path, show_errors: bool, threshold: float, out=sys.stdout) -> int:
    pii = load_jsonl(data / "pii_corpus.jsonl", PiiLine)
    inj = load_jsonl(data / "injection_corpus.jsonl", InjectionLine)
    scores, errors = evaluate_pii(pii)
    w = out.write
    w(f"PII detectors ({len(pii)} lines, span-level exact match on kind+text)\n")
    w(f"{'kind':<8} {'gold':>5} {'found':>5} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}\n")
    for kind, s in scores.items():
        counts = f"{s.tp + s.fn:>5} {s.tp + s.fp:>5} {s.tp:>4} {s.fp:>4} {s.fn:>4}"
        w(f"{kind:<8} {counts} {s.precision:>9.3f} {s.recall:>7.3f}\n")
    if show_errors:
        w("".join(f"  {e}\n" for e in errors))
    attacks = sum(line.label == "attack" for line in inj)
    rows, scored = evaluate_injection(inj, sorted({*THRESHOLDS, threshold}))
    w(f"\nInjection heuristics ({attacks} attacks, {len(inj) - attacks} benign; default threshold {threshold})\n")
    w(f"{'threshold':>9} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7}\n")
    for t, s in rows:
        mark = "  <- default" if t == threshold else ""
        w(f"{t:>9.2f} {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.precision:>9.3f} {s.recall:>7.3f}{mark}\n")
    if show_errors:
        for value, line, rules in scored:
            if (value >= threshold) != (line.label == "attack"):
                w(f"  {'MISS' if line.label == 'attack' else 'FALSE'} {value:.2f} {rules} {line.text[:100]!r}\n")
    prompts = prompts_of([line.text for line in pii] + [line.text for line in inj])
    benign = prompts_of([line.text for line in pii] + [line.text for line in inj if line.label == "benign"])
    w(f"\nScan time, microseconds per KB (best of 20 rounds) over {len(prompts)} prompts of ~2 KB\n")
    for kind in BUILTIN_KINDS:
        w(f"  {kind:<18} {per_kb_us(Scanner({kind}).scan, prompts):8.1f}\n")
    w(f"  {'all PII (Scanner)':<18} {per_kb_us(Scanner().scan, prompts):8.1f}\n")
    w(f"  {'injection score':<18} {per_kb_us(InjectionDetector().score, prompts):8.1f}\n")
    w(f"  {'  benign only':<18} {per_kb_us(InjectionDetector().score, benign):8.1f}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eval-guardrails", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="directory with the two corpora")
    parser.add_argument("--errors", action="store_true", help="list every miss and false alarm")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="injection threshold to mark")
    args = parser.parse_args(argv)
    return report(args.data, args.errors, args.threshold)


if __name__ == "__main__":
    sys.exit(main())
