-- Additive only (a nullable column), so a rollback to an older release keeps
-- working against a database that already has it.
ALTER TABLE incidents ADD COLUMN acknowledged_by text;
ALTER TABLE incidents ADD COLUMN acknowledged_at timestamptz;
