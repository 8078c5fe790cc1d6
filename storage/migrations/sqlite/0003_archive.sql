-- Archived campaigns: hidden from the campaign list; their calls and audit are kept.
ALTER TABLE campaigns ADD COLUMN archived_at INTEGER;
