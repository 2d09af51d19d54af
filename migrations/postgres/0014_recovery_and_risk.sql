-- Issue 12, part 3: helpdesk recovery with a notice and a wait. `gatehouse user recover E`
-- starts one; the owner's address gets a cancel link at once (S59: the SHA-256 of a 256-bit
-- token, single use, bound to this row); after `ready_at` the operator can issue the
-- single-use recovery link (hashed likewise; a newer one replaces it). At most one pending
-- recovery per account.
CREATE TABLE account_recoveries (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    cancel_token_hash BYTEA NOT NULL UNIQUE,
    started_at        BIGINT NOT NULL,
    ready_at          BIGINT NOT NULL,
    -- when the owner's notice left; until then no link can be issued (S52, S53: a crash
    -- between the start and its notice leaves a recovery nobody was told of, which the next
    -- start replaces)
    notified_at       BIGINT,
    link_token_hash   BYTEA UNIQUE,
    link_expires_at   BIGINT,
    -- 'owner' (the cancel link) or 'operator' (`user recover --cancel`)
    cancelled_by      TEXT,
    cancelled_at      BIGINT,
    completed_at      BIGINT
);
CREATE UNIQUE INDEX account_recoveries_one_pending ON account_recoveries(account_id)
    WHERE cancelled_at IS NULL AND completed_at IS NULL;

-- Issue 12, part 4: the outcome of the last mail to each address, for `gatehouse report
-- risk` (`mail_bouncing`): 'sent', 'failed' (try again later) or 'bounced' (the mail server
-- refused it permanently, SMTP 5xx).
CREATE TABLE mail_deliveries (
    address         TEXT PRIMARY KEY,
    last_attempt_at BIGINT NOT NULL,
    last_outcome    TEXT NOT NULL CHECK (last_outcome IN ('sent', 'failed', 'bounced'))
);
CREATE INDEX mail_deliveries_last_attempt_at ON mail_deliveries(last_attempt_at);
