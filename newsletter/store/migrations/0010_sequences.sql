-- Welcome emails and sequences (newsletter/release/sequences.py, SQL in newsletter/store/sequences.py).
-- A welcome email is a sequence of one step named 'welcome'. Each step of a sequence is a normal send
-- (sends + deliveries, audience 'sequence:NAME' or 'sequence:NAME#ROUND'), so every (subscriber, step)
-- is one ledger row.

-- A sequence attached to a list: a TOML file of steps, or (kind 'welcome') one issue file.
CREATE TABLE sequences (
    id          INTEGER PRIMARY KEY,
    list_id     INTEGER NOT NULL REFERENCES lists(id),
    name        TEXT NOT NULL,               -- 'welcome', or the sequence file's name without .toml
    kind        TEXT NOT NULL CHECK (kind IN ('welcome', 'file')),
    path        TEXT NOT NULL,               -- absolute path of the TOML file (welcome: of the issue)
    root        TEXT NOT NULL,               -- relative issue paths in the file start here
    version     INTEGER NOT NULL DEFAULT 1,  -- the version new enrolments take
    rounds      INTEGER NOT NULL DEFAULT 1,  -- the highest round anyone is in (`sequences restart`)
    detached_at TEXT,                        -- removed from the list: nobody enrols, no step is sent
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (list_id, name)
);

-- The steps as they were when attached and whenever the worker saw the file change. An enrolment keeps
-- the version it entered with: edited delays, order and conditions apply to new enrolments only.
CREATE TABLE sequence_versions (
    sequence_id INTEGER NOT NULL REFERENCES sequences(id),
    version     INTEGER NOT NULL,
    steps       TEXT NOT NULL,               -- JSON: [{issue, after_joining, after_previous, where}]
    digest      TEXT NOT NULL,               -- SHA-256 of steps
    created_at  TEXT NOT NULL,
    PRIMARY KEY (sequence_id, version)
);

-- Who is in a sequence, written in the transaction that makes them a member. A rejoin finds the row and
-- does not restart; `sequences restart` adds a round (and ends the one before).
CREATE TABLE enrolments (
    sequence_id   INTEGER NOT NULL REFERENCES sequences(id),
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    round         INTEGER NOT NULL DEFAULT 1,
    version       INTEGER NOT NULL,
    step          INTEGER NOT NULL DEFAULT 0, -- the next step: steps before it have a ledger row
    entered_at    TEXT NOT NULL,
    ended_at      TEXT,                       -- a later round replaced this one
    PRIMARY KEY (sequence_id, subscriber_id, round)
);
-- The worker's due query reads the members at one step of one (version, round).
CREATE INDEX enrolments_next ON enrolments(sequence_id, version, round, step, entered_at);
CREATE INDEX enrolments_subscriber ON enrolments(subscriber_id);
