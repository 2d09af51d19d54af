-- "Forgot password?": single-use reset links, stored as the SHA-256 of a 256-bit token,
-- valid 60 minutes.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_resets_account ON password_resets(account_id);
