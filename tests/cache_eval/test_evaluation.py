"""The measured decision: at the default threshold with the verifier, precision >= 0.97 on the
labelled set and a hit rate that is still worth having. A regression fails here."""

from __future__ import annotations

import json

import numpy as np

from cli.tools import eval_cache
from server.cache import defaults

MIN_PRECISION = 0.97
# Measured 2026-11-23: 0.698 at 0.60 (server/cache/defaults.py); below this the cache has lost
# a good part of its use.
MIN_HIT_RATE = 0.60


def test_the_pairs_are_embedded_sensibly(pairs, cosines) -> None:
    assert cosines.shape == (len(pairs),) and np.isfinite(cosines).all()
    same = np.array([p.same for p in pairs])
    unrelated = np.array([p.kind == "unrelated" for p in pairs])
    assert cosines[same].mean() > cosines[unrelated].mean() + 0.4


def test_default_threshold_with_the_verifier_is_precise_and_useful(pairs, cosines) -> None:
    passed, _, _ = eval_cache.verdicts(pairs)
    s = eval_cache.score(pairs, cosines, passed, defaults.DEFAULT_THRESHOLD)
    assert defaults.VERIFY_BY_DEFAULT
    assert s.precision >= MIN_PRECISION, s
    assert s.hit_rate >= MIN_HIT_RATE, s


def test_cosine_alone_is_not_enough(pairs, cosines) -> None:
    """Why the verifier exists: no threshold alone reaches the precision on this set."""
    best = max(eval_cache.score(pairs, cosines, None, t).precision for t in eval_cache.COARSE)
    assert best < MIN_PRECISION


def test_the_rule_still_picks_the_configured_default(report) -> None:
    """If the data or the verifier changed the choice, update server/cache/defaults.py."""
    assert report["chosen"] is not None
    assert report["chosen"]["threshold"] == defaults.DEFAULT_THRESHOLD
    assert report["chosen"]["precision"] >= MIN_PRECISION


def test_the_choice_holds_on_the_held_out_half(report) -> None:
    split = report["split"]
    assert split["held_out"]["precision"] >= 0.95, split
    assert split["held_out"]["hit_rate"] >= 0.5, split
    assert split["more_seeds"]["precision_min"] >= 0.95, split["more_seeds"]


def test_every_rule_earns_its_place(report) -> None:
    """Dropping any one rule lets more look-alikes through at the chosen threshold."""
    chosen = report["chosen"]
    for rule, without in report["ablation"].items():
        assert without["false_hits"] > chosen["false_hits"], rule


def test_report_renders_and_serialises(report) -> None:
    text = eval_cache.render(report)
    assert "cosine alone" in text and "cosine + verifier" in text and "split (seed 0)" in text
    assert f"chosen threshold {defaults.DEFAULT_THRESHOLD:.2f}" in text
    assert json.loads(json.dumps(report))["pairs"] == len(eval_cache.load_pairs())


def test_command_line_json_on_a_small_file(tmp_path, embedder, capsys, monkeypatch) -> None:
    rows = [r for r in map(json.loads, eval_cache.DEFAULT_PAIRS.read_text().splitlines()) if r][:40]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    models = embedder  # the session's embedder is reused: no second load
    monkeypatch.setattr("server.cache.embedder.Embedder", lambda *a, **k: _Borrowed(models))
    monkeypatch.setattr("cli.tools.gguf_convert.ensure_embedder", lambda *a, **k: tmp_path / "unused.gguf")
    code = eval_cache.main(["--pairs", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == 40 and code in (0, 1)
    assert {"cosine_only", "with_verifier", "chosen", "split", "ablation"} <= set(out)


class _Borrowed:
    def __init__(self, embedder) -> None:
        self._e = embedder

    def __enter__(self):
        return self._e

    def __exit__(self, *exc) -> None:
        pass
