-- The ledger is the truth: a send's audience is fixed when it starts (one
-- 'queued' row per member), its counts and status are derived from its rows,
-- and the run that may send it holds a lease in `send_runs`.
-- SQLite rebuilds the two tables (with foreign keys off: the migration runner
-- turns them off around every migration, as SQLite's documented table rebuild
-- needs); PostgreSQL changes them in place.

-- dialect: sqlite
CREATE TABLE sends_new (
    id           INTEGER PRIMARY KEY,
    slug         TEXT NOT NULL,
    list_id      INTEGER NOT NULL REFERENCES lists(id),
    audience     TEXT NOT NULL DEFAULT '',     -- canonical segment conditions; '' = the whole list
    html_sha256  TEXT NOT NULL,
    backend      TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    links        TEXT NOT NULL DEFAULT '[]',   -- JSON array of the issue's web links (click tracking)
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,                         -- when the last run ended
    UNIQUE (slug, list_id, audience)
);
INSERT INTO sends_new (id, slug, list_id, html_sha256, backend, subject, links, created_at, started_at, finished_at)
    SELECT id, slug, list_id, html_sha256, backend, subject, links, created_at, started_at, finished_at FROM sends;

-- States: queued (in the audience, not yet claimed), claimed (taken by a run,
-- not yet handed to the provider), sending (handed over, no answer yet),
-- accepted, failed, in_doubt, skipped (in doubt, and the user chose not to
-- re-send), suppressed (unsubscribed or left the list before it was claimed).
CREATE TABLE deliveries_new (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    state         TEXT NOT NULL
                  CHECK (state IN ('queued', 'claimed', 'sending', 'accepted', 'failed', 'in_doubt',
                                   'skipped', 'suppressed')),
    prior         TEXT,                        -- the state a claim returns to if it never went out
    run_id        INTEGER,                     -- the run holding a claimed/sending row
    batch         INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,  -- hand-overs to a provider; part of SendGrid's custom_args
    message_id    TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (send_id, subscriber_id)
) WITHOUT ROWID;
INSERT INTO deliveries_new (send_id, subscriber_id, state, batch, attempts, message_id, error, updated_at)
    SELECT send_id, subscriber_id, state, batch, attempts, message_id, error, updated_at FROM deliveries;
-- Sends left unfinished by an older version: their pending members become the audience.
INSERT INTO deliveries_new (send_id, subscriber_id, state, updated_at)
    SELECT s.id, m.subscriber_id, 'queued', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
    FROM sends s JOIN memberships m ON m.list_id = s.list_id JOIN subscribers p ON p.id = m.subscriber_id
    WHERE s.status IN ('sending', 'partial') AND p.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = s.id AND d.subscriber_id = m.subscriber_id);

DROP TABLE deliveries;
DROP TABLE sends;
ALTER TABLE sends_new RENAME TO sends;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_state ON deliveries(send_id, state, subscriber_id);
CREATE INDEX deliveries_subscriber ON deliveries(subscriber_id);

-- dialect: postgresql
ALTER TABLE sends ADD COLUMN audience TEXT NOT NULL DEFAULT '';
ALTER TABLE sends DROP CONSTRAINT sends_slug_list_id_key;
ALTER TABLE sends ADD CONSTRAINT sends_slug_list_id_audience_key UNIQUE (slug, list_id, audience);
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('queued', 'claimed', 'sending', 'accepted', 'failed', 'in_doubt', 'skipped', 'suppressed'));
ALTER TABLE deliveries ADD COLUMN prior TEXT;
ALTER TABLE deliveries ADD COLUMN run_id INTEGER;
ALTER TABLE deliveries ALTER COLUMN attempts SET DEFAULT 0;
INSERT INTO deliveries (send_id, subscriber_id, state, updated_at)
    SELECT s.id, m.subscriber_id, 'queued', strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
    FROM sends s JOIN memberships m ON m.list_id = s.list_id JOIN subscribers p ON p.id = m.subscriber_id
    WHERE s.status IN ('sending', 'partial') AND p.status = 'active'
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.send_id = s.id AND d.subscriber_id = m.subscriber_id);
ALTER TABLE sends DROP COLUMN status, DROP COLUMN recipients, DROP COLUMN accepted, DROP COLUMN failed,
    DROP COLUMN in_doubt, DROP COLUMN skipped;
DROP INDEX deliveries_state;
CREATE INDEX deliveries_state ON deliveries(send_id, state, subscriber_id);
CREATE INDEX deliveries_subscriber ON deliveries(subscriber_id);

-- dialect: all

-- Who is sending a send right now. A run renews `expires_at` (Unix seconds)
-- while it lives; a run whose lease expired, or whose process is gone from
-- this host, may be taken over: its 'sending' rows become in doubt.
CREATE TABLE send_runs (
    id           INTEGER PRIMARY KEY,
    send_id      INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    owner        TEXT NOT NULL,                -- random, unique per run
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    pid_started  TEXT NOT NULL DEFAULT '',     -- the process's start time, against pid reuse
    started_at   TEXT NOT NULL,
    expires_at   REAL NOT NULL,
    ended_at     TEXT,
    outcome      TEXT NOT NULL DEFAULT ''      -- finished, stopped, failed, taken-over
);
CREATE INDEX send_runs_open ON send_runs(send_id, ended_at);

-- SendGrid events carry the attempt of the hand-over they report on.
ALTER TABLE events ADD COLUMN attempt INTEGER;
