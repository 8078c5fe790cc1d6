-- `calls_by_status` held every call under its status, so each of an attempt's transitions
-- (dialing, ringing, in progress, its outcome) moved the call's entry: a delete and an insert
-- in a second b-tree, about a quarter of the pages a call update writes. Calls in flight are
-- listed by `calls_live` (at most the lines in use), so the status index now holds only the
-- others: an attempt enters and leaves it once. Listing by a live status without a campaign
-- reads `calls_live` for each campaign and sorts what it finds.
DROP INDEX IF EXISTS calls_by_status;
CREATE INDEX calls_by_status ON calls (status, call_id)
    WHERE status NOT IN ('DIALING', 'RINGING', 'IN_PROGRESS');
