-- Messages, one per recipient and cause, with a partial index of the pending ones by due time
-- (the runner's queue), and messaging events (inbound messages, delivery receipts, the runner's
-- decisions) stored raw and normalized.
CREATE TABLE messages (
    message_id   TEXT    PRIMARY KEY,
    campaign_id  INTEGER NOT NULL,
    phone        TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    cause        TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    provider_sid TEXT,
    error_code   TEXT,
    reason       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX messages_due ON messages (due_at, message_id) WHERE status = 'pending';
CREATE INDEX messages_by_campaign ON messages (campaign_id, message_id);
CREATE INDEX messages_by_phone ON messages (phone, message_id);

CREATE TABLE message_events (
    event_id   TEXT    PRIMARY KEY,
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    phone      TEXT,
    message_id TEXT,
    raw        TEXT    NOT NULL,
    normalized TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX message_events_by_kind ON message_events (kind, event_id);
