-- dialer embedded store, schema version 1.
-- Times are Unix milliseconds (INTEGER); call ids are 16-byte UUID v7 BLOBs, so ordering by id
-- is ordering by creation time; phone numbers are E.164 TEXT.

CREATE TABLE campaigns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    is_active   INTEGER NOT NULL,
    state       TEXT    NOT NULL,
    settings    TEXT    NOT NULL,           -- CampaignSettings as JSON
    dial_cursor INTEGER,                    -- last contact id handed to dialing
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    phone       TEXT    NOT NULL,
    attributes  TEXT    NOT NULL,           -- JSON object
    added_at    INTEGER NOT NULL,
    UNIQUE (campaign_id, phone)
);
-- A campaign pulls its list in pages: WHERE campaign_id = ? AND id > ? ORDER BY id.
CREATE INDEX contacts_by_campaign ON contacts (campaign_id, id);

CREATE TABLE calls (
    call_id          BLOB    PRIMARY KEY,
    campaign_id      INTEGER NOT NULL,
    contact_id       INTEGER,
    phone            TEXT    NOT NULL,
    origin           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempt_count    INTEGER NOT NULL,
    max_attempts     INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    scheduled_at     INTEGER NOT NULL,
    due_at           INTEGER,
    last_attempt_at  INTEGER,
    last_outcome     TEXT,
    total_call_time  INTEGER NOT NULL,
    external_call_id TEXT,
    error_message    TEXT
) WITHOUT ROWID;
-- Call history of a campaign, newest first.
CREATE INDEX calls_by_campaign ON calls (campaign_id, call_id);
-- Listing by status.
CREATE INDEX calls_by_status ON calls (status, call_id);
-- What a restart reloads: every call not in a terminal status.
CREATE INDEX calls_open ON calls (call_id)
    WHERE status IN ('SCHEDULED', 'INITIATED', 'DIALING', 'RINGING', 'IN_PROGRESS', 'RETRYING');
-- The duplicate guard: the latest call to a number in a campaign.
CREATE INDEX calls_by_phone ON calls (campaign_id, phone, created_at);
-- The pending schedule is derived, not stored twice: calls waiting on a due time.
CREATE INDEX calls_due ON calls (due_at, call_id) WHERE status IN ('SCHEDULED', 'RETRYING');

CREATE TABLE call_events (
    id          INTEGER PRIMARY KEY,        -- append order
    call_id     BLOB    NOT NULL,
    campaign_id INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    detail      TEXT    NOT NULL            -- the AuditKind as JSON
);
CREATE INDEX call_events_by_call ON call_events (call_id, id);

CREATE TABLE dnc (
    phone    TEXT    NOT NULL,
    kind     TEXT    NOT NULL,              -- dnc | opt_out
    source   TEXT    NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (phone, kind)
) WITHOUT ROWID;

CREATE TABLE counters (
    campaign_id INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, name)
) WITHOUT ROWID;
