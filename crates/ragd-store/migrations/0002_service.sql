-- ragd metadata store, schema version 2: what `ragd serve` needs.
--
-- API keys: only the SHA-256 of a token is stored, never the token. `prefix` is the token's first
-- characters (`dataset-AbCd`), shown in listings and accepted by revoke. `datasets` is a JSON array of
-- dataset ids the key may use (empty: every dataset). Revoked keys stay (revoked_at set) so that a
-- revoked token is told apart from an unknown one.

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    datasets     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_by_prefix ON api_keys (prefix);

-- claim_jobs takes the queued jobs of one dataset, oldest first.
CREATE INDEX indexing_jobs_by_state_dataset ON indexing_jobs (state, dataset_id, seq);
