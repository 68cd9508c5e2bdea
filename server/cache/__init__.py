"""The exact and semantic caches, and the embedder the semantic one keys on."""
