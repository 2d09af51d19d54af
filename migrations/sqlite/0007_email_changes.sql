-- A change of e-mail address waiting for the code sent to the new address. When the new
-- address belongs to another account the change can never complete (taken = 1), but the
-- pages look the same (S46).
CREATE TABLE email_changes (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    new_email   TEXT NOT NULL,
    code_hash   BLOB NOT NULL,
    taken       BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
