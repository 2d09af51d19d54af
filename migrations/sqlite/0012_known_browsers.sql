-- S56: browsers that have signed in to an account keep their own password budget.
-- A browser is named by the SHA-256 of its device cookie; one cookie may know several
-- accounts. The sign-in in progress remembers which browser started it.
ALTER TABLE sign_in_flows ADD COLUMN browser_hash BLOB;

CREATE TABLE known_browsers (
    id            TEXT PRIMARY KEY,
    browser_hash  BLOB NOT NULL,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    UNIQUE (browser_hash, account_id)
);
CREATE INDEX known_browsers_account ON known_browsers(account_id, last_seen_at);

-- S57: the housekeeping task prunes by age.
CREATE INDEX security_events_occurred_at ON security_events(occurred_at);
CREATE INDEX failure_counters_last_failure_at ON failure_counters(last_failure_at);
CREATE INDEX rate_windows_window_start ON rate_windows(window_start);
