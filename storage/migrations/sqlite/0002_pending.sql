-- dialer embedded store, schema version 2: the pending schedule per campaign and lane.
--
-- A campaign's owner reads its pending calls (scheduled, queued, waiting for a retry) in the
-- order they are to be dialed, per lane (its contact list, its one-off calls), and its calls in
-- flight after a restart. A node-wide schedule and a scan of every open call are gone.

DROP INDEX IF EXISTS calls_due;
DROP INDEX IF EXISTS calls_open;

-- A queued call keeps its due time now: it is its place in line. Rows written by version 1
-- cleared it once a call was due.
UPDATE calls SET due_at = updated_at WHERE status = 'INITIATED' AND due_at IS NULL;

CREATE INDEX calls_pending ON calls (campaign_id, origin = 'campaign', due_at, call_id)
    WHERE status IN ('SCHEDULED', 'INITIATED', 'RETRYING');

CREATE INDEX calls_live ON calls (campaign_id, call_id)
    WHERE status IN ('DIALING', 'RINGING', 'IN_PROGRESS');
