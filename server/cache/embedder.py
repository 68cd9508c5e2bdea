"""The semantic cache's embedder: all-MiniLM-L6-v2 as GGUF, run in process by llama.cpp.

`Embedder(path).embed(texts)` gives an (n, 384) float32 array of L2-normalised vectors,
matching sentence-transformers (cosine >= 0.999 in f16 and q8_0, see tests/cache). Like
sentence-transformers, a text is cut to the model's 256-token limit, keeping the closing
[SEP]: llama-cpp-python's own `Llama.embed` would cut at n_batch and drop the [SEP], and
past 256 positions the model was never trained. So this feeds the tokens through
llama.cpp's batch API itself; pooling (mean) comes from the GGUF metadata.

Threads: one llama.cpp context is not safe to use from two threads at once. Callers run
`embed` on one thread (a single-worker executor, off the event loop); a lock serialises
any stray concurrent call rather than corrupting the context.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from server.core.paths import models_dir as default_models_dir

# The file the set-up builds (scripts/build-embedder, which runs the converter
# cli/tools/gguf_convert.py) and serving loads when [cache] embedder is unset. q8_0 embeds
# a question 1.2-1.7x faster than f16 on one core (48 help-desk questions: p50 6.2 vs 7.8 ms;
# 12 tokens: 6.5 vs 11 ms), matches sentence-transformers to cosine >= 0.999 as f16 does,
# and scripts/eval-cache gives the same precision and hit rate at every threshold.
MODEL_NAME = "all-minilm-l6-v2"
DEFAULT_DTYPE = "q8_0"
BUILD_COMMAND = "scripts/build-embedder (python -m cli.tools.gguf_convert)"

# sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json).
MAX_TOKENS = 256
# Short texts are packed into one llama.cpp batch up to this many tokens. A batch attends
# over all its tokens (masked per sequence), so big batches cost more than they save:
# measured on 2 cores, 64 tokens ~3.3 ms per short sentence, 512 tokens ~5.2 ms.
PACK_TOKENS = 64


def gguf_name(dtype: str = DEFAULT_DTYPE) -> str:
    return f"{MODEL_NAME}-{dtype}.gguf"


def built_path(models_dir: Path | None = None) -> Path:
    """The GGUF the set-up built. Serving never converts: a missing file is an error that
    names the command which builds it."""
    path = (models_dir or default_models_dir()) / gguf_name()
    if not path.is_file():
        raise FileNotFoundError(f"no embedder GGUF at {path}: build it once with {BUILD_COMMAND}, "
                                "or set [cache] embedder to a .gguf")
    return path


class Embedder:
    def __init__(
        self,
        model_path: Path | str,
        *,
        max_tokens: int = MAX_TOKENS,
        n_ctx: int = 512,
        n_threads: int | None = None,
    ) -> None:
        from server.core.llama_runtime import llama_cpp as load_llama_cpp

        llama_cpp = load_llama_cpp()
        self._lib = llama_cpp
        threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self._llm = llama_cpp.Llama(
            model_path=str(model_path),
            embedding=True,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self._lock = threading.RLock()  # embed() holds it around embed_tokens()
        self._batch = None
        try:
            if self._llm.pooling_type() == llama_cpp.LLAMA_POOLING_TYPE_NONE:
                raise ValueError(f"{model_path}: the GGUF sets no pooling type; not a sentence embedder")
            self.dim: int = self._llm.n_embd()
            self._n_batch = self._llm.n_batch
            self.max_tokens = min(max_tokens, self._n_batch)
            self._n_seq_max = max(1, int(self._llm.context_params.n_seq_max))
            # What the tokenizer adds around any text ([CLS] ... [SEP]); a cut keeps the tail.
            specials = self._llm.tokenize(b"", add_bos=True, special=False)
            self._tail = specials[1:]
            self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        except BaseException:
            self._llm.close()
            raise

    def tokenize(self, text: str) -> list[int]:
        """The token ids the model sees for `text`, cut to max_tokens like sentence-transformers."""
        tokens = self._llm.tokenize(text.encode("utf-8", "replace"), add_bos=True, special=False)
        if len(tokens) > self.max_tokens:
            tokens = tokens[: self.max_tokens - len(self._tail)] + self._tail
        return tokens

    def embed(self, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
        """An (len(texts), dim) float32 array; rows are L2-normalised unless normalize=False."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string")
        with self._lock:
            self._check_open()
            return self.embed_tokens([self.tokenize(t) for t in texts], normalize)

    def embed_tokens(self, seqs: Sequence[list[int]], normalize: bool = True) -> np.ndarray:
        """embed() for texts already tokenized by tokenize(), for callers that look at the
        tokens first (the cache skips long questions) and need not tokenize twice."""
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        with self._lock:
            self._check_open()
            start = 0
            while start < len(seqs):
                end, n_tokens = start, 0
                while end < len(seqs) and (
                    end == start
                    or (end - start < self._n_seq_max and n_tokens + len(seqs[end]) <= PACK_TOKENS)
                ):
                    n_tokens += len(seqs[end])
                    end += 1
                self._decode(seqs[start:end], out[start:end])
                start = end
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    def _check_open(self) -> None:
        if self._batch is None:
            raise RuntimeError("the embedder is closed")

    def _decode(self, seqs: Sequence[list[int]], out: np.ndarray) -> None:
        """Run one llama.cpp batch holding `seqs` (one sequence id each); pooled rows into out."""
        lib, batch, ctx = self._lib, self._batch, self._llm.ctx
        k = 0
        for seq_id, tokens in enumerate(seqs):
            for pos, token in enumerate(tokens):
                batch.token[k] = token
                batch.pos[k] = pos
                batch.n_seq_id[k] = 1
                batch.seq_id[k][0] = seq_id
                batch.logits[k] = True
                k += 1
        batch.n_tokens = k
        memory = lib.llama_get_memory(ctx)
        if memory:  # an encoder-only model may have none
            lib.llama_memory_clear(memory, True)
        rc = lib.llama_decode(ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        for seq_id in range(len(seqs)):
            ptr = lib.llama_get_embeddings_seq(ctx, seq_id)
            if not ptr:
                raise RuntimeError("llama.cpp returned no pooled embedding")
            out[seq_id] = np.ctypeslib.as_array(ptr, shape=(self.dim,))

    def close(self) -> None:
        """Free the batch and the model; embed() fails after this. Safe to call twice."""
        with self._lock:
            if self._batch is not None:
                self._lib.llama_batch_free(self._batch)
                self._batch = None
                self._llm.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
