-- The OpenID Connect provider (SECURITY.md S37-S45). Tokens, codes and client secrets are
-- stored only as SHA-256 hashes; signing keys only sealed under the master key.

-- Products. Redirect URIs are newline-separated and matched exactly (S38). A product
-- without a secret_hash is a public client, which must use PKCE (S40).
CREATE TABLE oidc_clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    secret_hash               BLOB,
    third_party               BIGINT NOT NULL,
    signing_alg               TEXT NOT NULL,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    created_at                BIGINT NOT NULL
);

-- ID-token signing keys, shared by every node. A retired key no longer signs and leaves
-- the JWKS once the tokens it signed have expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    sealed_key  BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX signing_keys_alg ON signing_keys(alg, retired_at);

-- An authorization request waiting for its person to sign in (or consent). The id is a
-- hash of a 256-bit handle; it is consumed when a code is issued.
CREATE TABLE authorization_requests (
    id             BLOB PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT,
    prompt_login   BIGINT NOT NULL,
    max_age        BIGINT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests(expires_at);

-- Third-party products the person allowed.
CREATE TABLE oidc_consents (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

-- One sign-in's authorization of one product: what its codes and tokens carry, and what
-- revoking any of them ends (S39, S44).
CREATE TABLE oidc_grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES oidc_clients(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    nonce       TEXT,
    auth_time   BIGINT NOT NULL,
    proof       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX oidc_grants_account ON oidc_grants(account_id);

CREATE TABLE authorization_codes (
    code_hash      BLOB PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES oidc_grants(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX authorization_codes_grant ON authorization_codes(grant_id);

-- Access and refresh tokens. A used refresh token stays, marked, so presenting it again is
-- recognised as theft and ends the grant (S44).
CREATE TABLE oidc_tokens (
    token_hash BLOB PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES oidc_grants(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens(grant_id);
