-- Authenticator apps (TOTP). The secret is sealed under the master key (S15); the last
-- accepted time step is kept so that no step is accepted twice (S17). A row whose
-- confirmed_at is NULL is an enrolment in progress, which never counts (S18).
CREATE TABLE totp_credentials (
    account_id     TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    secret_sealed  BYTEA NOT NULL,
    last_used_step BIGINT,
    created_at     BIGINT NOT NULL,
    confirmed_at   BIGINT
);

-- How the second step of a sign-in is asked for, decided at its password step.
ALTER TABLE sign_in_flows ADD COLUMN second_step_method TEXT;
