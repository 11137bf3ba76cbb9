-- Subject tests (store/subject_tests.py): each ledger row carries the variant of the subject its
-- message has ('' for an ordinary send; 'A' is the issue's own subject, 'B' and 'C' the others),
-- fixed when the send starts; the rest of a test's audience waits in the new state 'held' until
-- the pick gives it the winner's variant and makes it 'queued' (store/ledger.py's table of states).
-- dialect: sqlite
-- A CHECK cannot be changed in SQLite: the table is rebuilt (about 2.6 s per million rows, measured;
-- it needs room for a second copy of the table while it runs).
CREATE TABLE deliveries_new (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    state         TEXT NOT NULL
                  CHECK (state IN ('queued', 'claimed', 'sending', 'accepted', 'failed', 'in_doubt',
                                   'skipped', 'suppressed', 'held')),
    prior         TEXT,                        -- the state a claim returns to if it never went out
    run_id        INTEGER,                     -- the run holding a claimed/sending row
    batch         INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,  -- hand-overs to a provider; part of SendGrid's custom_args
    message_id    TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL,
    variant       TEXT NOT NULL DEFAULT '' CHECK (variant IN ('', 'A', 'B', 'C')),
    PRIMARY KEY (send_id, subscriber_id)
) WITHOUT ROWID;
INSERT INTO deliveries_new (send_id, subscriber_id, state, prior, run_id, batch, attempts, message_id, error, updated_at)
    SELECT send_id, subscriber_id, state, prior, run_id, batch, attempts, message_id, error, updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_subscriber ON deliveries(subscriber_id);
-- dialect: postgresql
-- Only widened: NOT VALID then VALIDATE checks the existing rows without blocking writes meanwhile.
ALTER TABLE deliveries ADD COLUMN variant TEXT NOT NULL DEFAULT '' CHECK (variant IN ('', 'A', 'B', 'C'));
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('queued', 'claimed', 'sending', 'accepted', 'failed', 'in_doubt', 'skipped', 'suppressed', 'held'))
    NOT VALID;
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_state_check;
-- dialect: all

-- One row per send with a subject test: what was tested, how the winner is picked and when, and the
-- decision with the counts it was made on (``results``: JSON, per variant: recipients, human opens,
-- human clicks).
CREATE TABLE subject_tests (
    send_id      INTEGER PRIMARY KEY REFERENCES sends(id) ON DELETE CASCADE,
    variants     TEXT NOT NULL,                  -- JSON object: variant -> subject ("A" is the issue's)
    share        INTEGER NOT NULL CHECK (share BETWEEN 1 AND 100),  -- percent of the audience in the test
    pick         TEXT NOT NULL CHECK (pick IN ('clicks', 'opens', 'manual')),
    wait_seconds INTEGER NOT NULL,
    seed         INTEGER NOT NULL,               -- of the draw: the same seed draws the same groups
    decide_at    TEXT NOT NULL,                  -- UTC; a worker picks the winner then (not for 'manual')
    results      TEXT NOT NULL DEFAULT '{}',
    winner       TEXT CHECK (winner IN ('A', 'B', 'C')),
    confidence   REAL,                           -- the probability that the winner is really the best
    decided_at   TEXT,
    decided_by   TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL
);
