"""Named, ordered schema migrations. Append only: never edit or reorder a shipped one."""

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_keys",
        """
        CREATE TABLE keys(
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            hash BLOB NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            models TEXT,               -- JSON list of aliases, NULL = every alias
            created_at REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL,
            rotated_at REAL
        );
        """,
    ),
    (
        "0002_ledger",
        """
        CREATE TABLE ledger(
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            ts REAL NOT NULL,
            key_id TEXT,
            endpoint TEXT NOT NULL,
            alias TEXT,
            provider TEXT,
            upstream_model TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            status INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            usage_estimated INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            ttfb_ms REAL,
            attempts TEXT,              -- provider:model=status,... in order
            error TEXT
        );
        CREATE INDEX ledger_ts ON ledger(ts);
        CREATE INDEX ledger_key_ts ON ledger(key_id, ts);
        """,
    ),
]
