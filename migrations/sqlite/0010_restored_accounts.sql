-- S54: when `gatehouse restore` put this account back from a backup. A backup code used
-- after the backup point is active again in the restored copy and works once more, so
-- until the person gets a new backup code their account page suggests one; getting it
-- clears the mark. NULL: never restored, or a new code was saved since.
ALTER TABLE accounts ADD COLUMN restored_at BIGINT;
