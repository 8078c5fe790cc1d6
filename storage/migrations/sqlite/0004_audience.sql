-- The messaging channel's audience: recipients keyed by E.164 with JSON attributes and a
-- consent state, their topic subscriptions (read by recipient and by topic), and named
-- definitions (segments, templates) as JSON documents.
CREATE TABLE recipients (
    phone      TEXT    PRIMARY KEY,
    attributes TEXT    NOT NULL,
    consent    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE subscriptions (
    phone      TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (phone, topic)
) WITHOUT ROWID;

CREATE INDEX subscriptions_by_topic ON subscriptions (topic, phone);

CREATE TABLE definitions (
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
