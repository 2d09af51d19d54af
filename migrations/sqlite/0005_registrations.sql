-- Self-service sign-up in progress: the address is verified by an e-mailed code before the
-- account exists. A registration for an address that is already taken has no password
-- hash and can never complete; it exists so the pages look the same either way (S46).
CREATE TABLE registrations (
    id            TEXT PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    password_hash TEXT,
    code_hash     BLOB NOT NULL,
    attempts      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX registrations_expires_at ON registrations(expires_at);
