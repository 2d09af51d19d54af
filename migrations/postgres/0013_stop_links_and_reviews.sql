-- S59: "Wasn't you? Stop this sign-in." Each e-mail with a sign-in code carries a link
-- (256 random bits, only its SHA-256 kept) bound to its sign-in (`flow_id`; no foreign key,
-- since a finished sign-in's row is deleted and the link must then refuse, not vanish).
-- It lives as long as the code it came with. `client_address` is the address the sign-in
-- came from: stopping it counts against that address's budget.
CREATE TABLE sign_in_stop_links (
    token_hash     BYTEA PRIMARY KEY,
    flow_id        TEXT NOT NULL,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_address TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX sign_in_stop_links_flow ON sign_in_stop_links(flow_id);
CREATE INDEX sign_in_stop_links_expires_at ON sign_in_stop_links(expires_at);

-- For 7 days after a backup-code sign-in, a new e-mail address takes effect only after
-- 24 hours; the old address can cancel it with a link (S59: hashed, single use).
CREATE TABLE delayed_email_changes (
    account_id        TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    new_email         TEXT NOT NULL,
    cancel_token_hash BYTEA NOT NULL UNIQUE,
    requested_at      BIGINT NOT NULL,
    effective_at      BIGINT NOT NULL
);
CREATE INDEX delayed_email_changes_effective_at ON delayed_email_changes(effective_at);

-- When a backup code last replaced the second step (stamped in the transaction that
-- consumed it): the 7 days above count from here.
ALTER TABLE accounts ADD COLUMN backup_code_used_at BIGINT;
