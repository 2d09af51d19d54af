-- Gatehouse schema, PostgreSQL flavour. The SQLite file of the same name must stay
-- equivalent: only bool-free integer, text and bytes columns (the sqlx Any driver's subset).
-- Times are UTC unix seconds; secrets are stored only as hashes.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sign_in_flows (
    id                TEXT PRIMARY KEY,
    token_hash        BYTEA NOT NULL UNIQUE,
    email             TEXT NOT NULL,
    account_id        TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    step              TEXT NOT NULL,
    proof             TEXT,
    attempts          BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    code_hash         BYTEA,
    code_expires_at   BIGINT,
    codes_sent        BIGINT NOT NULL,
    last_code_sent_at BIGINT,
    sealed_backup_codes BYTEA,
    return_to         TEXT,
    created_at        BIGINT NOT NULL
);
CREATE INDEX sign_in_flows_expires_at ON sign_in_flows(expires_at);

CREATE TABLE backup_codes (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_hash    BYTEA NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'used')),
    flow_id      TEXT,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT,
    used_at      BIGINT
);
CREATE INDEX backup_codes_account_status ON backup_codes(account_id, status);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    proof          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    user_agent     TEXT,
    client_address TEXT
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE trusted_devices (
    id           TEXT PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX trusted_devices_account ON trusted_devices(account_id);

CREATE TABLE failure_counters (
    counter_key     TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

CREATE TABLE rate_windows (
    window_key   TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    used         BIGINT NOT NULL
);

CREATE TABLE security_events (
    id             TEXT PRIMARY KEY,
    occurred_at    BIGINT NOT NULL,
    account_id     TEXT,
    email          TEXT,
    event          TEXT NOT NULL,
    result         TEXT NOT NULL,
    method         TEXT,
    client_address TEXT,
    user_agent     TEXT,
    node           TEXT NOT NULL
);
CREATE INDEX security_events_account ON security_events(account_id, occurred_at);
