-- A backup code generated from the account page is shown until it is confirmed as saved:
-- while pending, its display form is kept sealed under the master key (context: its id),
-- and cleared when it becomes active (S21: never retrievable afterwards).
ALTER TABLE backup_codes ADD COLUMN sealed_display BYTEA;
