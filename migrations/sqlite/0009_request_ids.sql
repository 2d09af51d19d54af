-- The request that caused a security event: the X-Request-Id the response carried, so an
-- operator can join an event to the request's log line. NULL for events recorded outside
-- a request (the admin CLI) and for events recorded before this migration.
ALTER TABLE security_events ADD COLUMN request_id TEXT;
