"""`gate top`: a Textual app over a gateway's admin API (so it also watches a remote one)."""
