-- Subscribers, lists, sends and the per-recipient delivery journal.
-- Times are UTC ISO-8601 strings ('2026-11-24T08:29:00Z').

CREATE TABLE subscribers (
    id          INTEGER PRIMARY KEY,
    email       TEXT NOT NULL,                 -- normalised form, as shown to users
    email_key   TEXT NOT NULL UNIQUE,          -- lower-cased: uniqueness is case-insensitive
    name        TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',    -- JSON object of free attributes
    status      TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
    status_reason TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE lists (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    list_id       INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (list_id, subscriber_id)
) WITHOUT ROWID;
CREATE INDEX memberships_subscriber ON memberships(subscriber_id);

-- One row per (issue, list): the same issue is sent to a list once.
CREATE TABLE sends (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL,
    html_sha256  TEXT NOT NULL,
    list_id      INTEGER NOT NULL REFERENCES lists(id),
    backend      TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'sending', 'partial', 'done')),
    recipients   INTEGER NOT NULL DEFAULT 0,
    accepted     INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    in_doubt     INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    links        TEXT NOT NULL DEFAULT '[]',   -- JSON array of the issue's web links (click tracking)
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    UNIQUE (slug, list_id)
);

-- The journal: a row is written before its batch goes out ('sending') and
-- marked after the provider answers. 'sending' found at start-up means the
-- process died mid-batch: the outcome is unknown ('in_doubt').
CREATE TABLE deliveries (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    state         TEXT NOT NULL
                  CHECK (state IN ('sending', 'accepted', 'failed', 'in_doubt', 'skipped')),
    batch         INTEGER NOT NULL DEFAULT 0,
    message_id    TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (send_id, subscriber_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_state ON deliveries(send_id, state);
