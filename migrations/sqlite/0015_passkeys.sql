-- Passkeys (WebAuthn, S58). A passkey is a public key, not a secret: the library's record of
-- it (credential id, public key, counter, flags) is kept as its JSON in `passkey`; the
-- credential id and the signature counter also have columns, for the lookup at sign-in
-- and the compare-and-set that refuses a counter going backwards.
CREATE TABLE passkeys (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    passkey       TEXT NOT NULL,
    counter       BIGINT NOT NULL,
    name          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX passkeys_account ON passkeys(account_id, created_at);

-- S58: a ceremony's state stays on the server, under the SHA-256 of a random handle the
-- browser holds; single use (taken by a delete) and short-lived, so any node can finish a
-- ceremony another started. `account_id` binds an enrolment to the account that began it.
CREATE TABLE passkey_ceremonies (
    handle_hash   BLOB PRIMARY KEY,
    kind          TEXT NOT NULL,
    account_id    TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies(expires_at);
