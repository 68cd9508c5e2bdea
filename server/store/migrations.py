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
    (
        "0003_teams_budgets_ratelimits",
        """
        CREATE TABLE teams(
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        );
        ALTER TABLE keys ADD COLUMN team_id TEXT REFERENCES teams(id);
        ALTER TABLE keys ADD COLUMN rpm INTEGER;
        ALTER TABLE keys ADD COLUMN tpm INTEGER;
        ALTER TABLE ledger ADD COLUMN team_id TEXT;

        -- A budget in money and/or tokens over a period, on a key or a team.
        CREATE TABLE budgets(
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('key', 'team')),
            owner_id TEXT NOT NULL,
            limit_usd REAL,
            limit_tokens INTEGER,
            period TEXT NOT NULL,         -- daily | weekly | monthly | rolling:N
            soft_pct REAL NOT NULL DEFAULT 0.8,
            created_at REAL NOT NULL,
            UNIQUE (scope, owner_id)
        );
        -- Settled spend per budget per bucket (the period's start; a day for rolling ones).
        CREATE TABLE budget_spend(
            budget_id INTEGER NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,
            bucket REAL NOT NULL,
            usd REAL NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (budget_id, bucket)
        );
        -- Worst-case amounts held by requests in flight; a crashed worker's expire.
        CREATE TABLE reservations(
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            budget_id INTEGER NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,
            usd REAL NOT NULL,
            tokens INTEGER NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX reservations_budget ON reservations(budget_id, expires_at);
        CREATE INDEX reservations_request ON reservations(request_id);
        -- Requests and tokens per key per minute (a sliding window over two minutes).
        CREATE TABLE rate_windows(
            key_id TEXT NOT NULL,
            minute REAL NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key_id, minute)
        );
        CREATE TABLE events(
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,           -- budget_soft | budget_exhausted
            scope TEXT NOT NULL,
            owner_id TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        """,
    ),
    (
        "0004_egress",
        """
        ALTER TABLE keys ADD COLUMN allow_cloud INTEGER;   -- NULL: [egress] keys_default
        ALTER TABLE ledger ADD COLUMN route TEXT;           -- routing decisions (egress, context)
        """,
    ),
    (
        "0005_provider_health",
        """
        -- What each worker last knew of each provider (gate providers list reads it).
        CREATE TABLE provider_health(
            worker INTEGER NOT NULL,
            name TEXT NOT NULL,
            breaker TEXT NOT NULL,
            failures INTEGER NOT NULL,
            inflight INTEGER NOT NULL,
            load REAL,
            served INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            last_error TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (worker, name)
        );
        """,
    ),
    (
        "0006_auth_version",
        """
        -- Bumped by any change to keys, teams or budgets, from any process: workers cache
        -- what a key may do and check this one number per request instead.
        CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);
        INSERT INTO meta(k, v) VALUES ('auth_version', 0);
        CREATE TRIGGER keys_insert_bumps AFTER INSERT ON keys
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER keys_update_bumps AFTER UPDATE ON keys
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER keys_delete_bumps AFTER DELETE ON keys
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER budgets_insert_bumps AFTER INSERT ON budgets
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER budgets_update_bumps AFTER UPDATE ON budgets
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER budgets_delete_bumps AFTER DELETE ON budgets
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER teams_insert_bumps AFTER INSERT ON teams
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER teams_update_bumps AFTER UPDATE ON teams
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        CREATE TRIGGER teams_delete_bumps AFTER DELETE ON teams
        BEGIN UPDATE meta SET v = v + 1 WHERE k = 'auth_version'; END;
        """,
    ),
    (
        "0007_cache",
        """
        -- Answers kept for reuse. `partition` is a hash of everything that must be equal for
        -- one answer to serve another request (scope, alias, system prompt and earlier turns,
        -- sampling parameters); `exact` adds the final question itself.
        CREATE TABLE cache_entries(
            id INTEGER PRIMARY KEY,
            partition TEXT NOT NULL,
            exact BLOB NOT NULL,
            scope TEXT NOT NULL,
            alias TEXT NOT NULL,
            op TEXT NOT NULL,
            query TEXT NOT NULL,
            answer TEXT NOT NULL,
            finish_reason TEXT,
            model TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            embedding BLOB,               -- float32[384], for rescoring
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            hits INTEGER NOT NULL DEFAULT 0,
            last_hit REAL
        );
        CREATE UNIQUE INDEX cache_exact ON cache_entries(exact);
        CREATE INDEX cache_expiry ON cache_entries(expires_at);
        CREATE INDEX cache_lru ON cache_entries(coalesce(last_hit, created_at));
        -- Bit-quantized embeddings, searched first (sqlite-vec scans every row of a partition).
        CREATE VIRTUAL TABLE cache_bits USING vec0(
            partition TEXT partition key,
            embedding bit[384]
        );
        ALTER TABLE ledger ADD COLUMN cache TEXT;            -- HIT | SEMANTIC_HIT | MISS | BYPASS
        ALTER TABLE ledger ADD COLUMN similarity REAL;
        """,
    ),
    (
        "0008_traces",
        """
        -- One trace per request: the stages, the upstream attempts and their timings (JSON),
        -- GenAI attributes on the root. Pruned by age ([telemetry] trace_retention_h).
        CREATE TABLE traces(
            request_id TEXT PRIMARY KEY,
            ts REAL NOT NULL,
            alias TEXT,
            status INTEGER NOT NULL,
            duration_ms REAL NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX traces_ts ON traces(ts);
        """,
    ),
    (
        "0009_metrics",
        """
        -- Prometheus counters and histogram buckets, summed over every worker.
        CREATE TABLE metrics(
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (name, labels)
        );
        """,
    ),
    (
        "0010_key_guardrails",
        """
        ALTER TABLE keys ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0;  -- never to the cloud
        ALTER TABLE keys ADD COLUMN guardrails TEXT;                       -- a named policy
        ALTER TABLE ledger ADD COLUMN guard TEXT;                          -- what the checks found
        """,
    ),
    (
        "0011_key_log_bodies",
        """
        -- Keep this key's prompts and answers on its traces (redacted): off unless asked.
        ALTER TABLE keys ADD COLUMN log_bodies INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "0012_cache_bit_log",
        """
        -- Each worker searches a copy of the bit vectors in memory (server/cache/bitindex.py):
        -- the bits sit beside the entry, and every insert and delete of a semantic entry is
        -- logged in order (AUTOINCREMENT: a sequence number is never reused) for the copies
        -- to follow. vec0 (cache_bits) stays for [cache] index = "sqlite-vec".
        ALTER TABLE cache_entries ADD COLUMN bits BLOB;     -- sign bits of the embedding, 48 bytes
        UPDATE cache_entries SET bits = vec_quantize_binary(embedding) WHERE embedding IS NOT NULL;
        CREATE TABLE cache_log(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id INTEGER NOT NULL,
            partition TEXT NOT NULL,
            bits BLOB                                        -- NULL: the entry was deleted
        );
        CREATE TRIGGER cache_log_insert AFTER INSERT ON cache_entries WHEN new.bits IS NOT NULL
        BEGIN INSERT INTO cache_log(id, partition, bits) VALUES (new.id, new.partition, new.bits); END;
        CREATE TRIGGER cache_log_delete AFTER DELETE ON cache_entries WHEN old.bits IS NOT NULL
        BEGIN INSERT INTO cache_log(id, partition, bits) VALUES (old.id, old.partition, NULL); END;
        """,
    ),
    (
        "0013_reservation_owner",
        """
        -- Who holds each reservation (server/store/liveness.py) and what for: a dead worker's
        -- reservations are charged in full, with a ledger row, instead of expiring unbilled.
        ALTER TABLE reservations ADD COLUMN worker TEXT;
        ALTER TABLE reservations ADD COLUMN created_at REAL;
        ALTER TABLE reservations ADD COLUMN key_id TEXT;
        ALTER TABLE reservations ADD COLUMN team_id TEXT;
        ALTER TABLE reservations ADD COLUMN endpoint TEXT;
        ALTER TABLE reservations ADD COLUMN alias TEXT;
        """,
    ),
]
