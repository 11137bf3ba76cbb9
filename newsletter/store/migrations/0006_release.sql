-- Release: how each send is started, scheduled, paused or cancelled, the
-- audit log of those decisions, and the audiences approvers counted.

-- One row per send started, scheduled or handed over through `newsletter send`
-- or `newsletter worker` (sends.id; kept after a cancel removed the send).
CREATE TABLE releases (
    send_id     INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL,
    list_name   TEXT NOT NULL,
    audience    TEXT NOT NULL DEFAULT '',     -- the send's audience key (segment conditions)
    issue_path  TEXT NOT NULL,                -- absolute path of the issue file, composed again at start
    options     TEXT NOT NULL DEFAULT '{}',   -- JSON: the send's options (where, segment, rate, ...)
    build_id    TEXT NOT NULL DEFAULT '',     -- the build scheduled (or last started)
    build       TEXT NOT NULL DEFAULT '{}',   -- JSON: its parts, to say what changed at start
    mode        TEXT NOT NULL CHECK (mode IN ('now', 'worker', 'sendgrid')),
    -- scheduled: waiting for run_at (a worker starts it); running: a run holds it;
    -- handed-over: SendGrid holds its batches until run_at; stopped: paused or
    -- interrupted, `resume` continues it; then how it ended.
    state       TEXT NOT NULL CHECK (state IN ('scheduled', 'running', 'handed-over', 'stopped', 'done',
                                               'incomplete', 'refused', 'failed', 'cancelled')),
    run_at      TEXT,                         -- UTC, '2026-12-02T08:00:00Z'
    zone        TEXT NOT NULL DEFAULT '',     -- the zone the time was given in
    batch_id    TEXT NOT NULL DEFAULT '',     -- SendGrid's batch of a handed-over send
    claimed_by  TEXT NOT NULL DEFAULT '',     -- the worker or terminal that started the current run
    paused_at   TEXT,                         -- set by `pause`: no run continues it until `resume`
    paused_by   TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX releases_due ON releases(state, run_at);

-- Who did what to which send, and when: approve, schedule, start, pause,
-- resume, cancel, refuse, finish. Approvals name the issue and list (there may
-- be no send yet).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('approve', 'schedule', 'start', 'pause', 'resume', 'cancel',
                                               'refuse', 'finish')),
    send_id    INTEGER,
    slug       TEXT NOT NULL DEFAULT '',
    list_name  TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_send ON audit_log(send_id, id);
CREATE INDEX audit_log_issue ON audit_log(slug, list_name, id);

-- The members an approver counted (subscriber ids, compressed), by the digest
-- the approval records, so the gate can say who joined or left since.
CREATE TABLE audience_snapshots (
    digest      TEXT PRIMARY KEY,
    members     INTEGER NOT NULL,
    ids         BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
