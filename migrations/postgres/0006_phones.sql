-- A phone for texted codes, one per account. The number is sealed under the master key
-- (DESIGN.md §3); only its last digits are kept in clear, for pages. It receives sign-in
-- codes only once verified (S13); until then it holds the verification code's keyed hash.
CREATE TABLE phones (
    account_id      TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    number_sealed   BYTEA NOT NULL,
    last_digits     TEXT NOT NULL,
    verified_at     BIGINT,
    code_hash       BYTEA,
    code_expires_at BIGINT,
    attempts        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
