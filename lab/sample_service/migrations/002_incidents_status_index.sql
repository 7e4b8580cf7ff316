-- /api/incidents counts open incidents on every request; without this index
-- that is a full table scan once the table grows.
CREATE INDEX incidents_status_created_at_idx ON incidents (status, created_at DESC);
