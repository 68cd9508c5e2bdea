"""Operator tools run at set-up or by hand, never while serving.

    gguf_convert       all-MiniLM-L6-v2 to GGUF, the semantic cache's embedder
                       (scripts/build-embedder; scripts/_setup.sh and `gate doctor` run it)
    safetensors_reader the converter's reader of the model's weights (no torch)
    eval_cache         the semantic cache's precision and hit rate per threshold on labelled
                       pairs, and the default threshold (scripts/eval-cache)
    eval_guardrails    the guardrail detectors' precision and recall on their corpora
                       (scripts/eval-guardrails)

The runtime package `server/` never imports this one (tests/unit/test_layers.py).
"""
