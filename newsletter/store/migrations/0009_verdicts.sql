-- Every open and click judged human, machine or unknown, with the reason
-- (newsletter/tracking/verdicts.py); '' on events of other types.
ALTER TABLE events ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN verdict_reason TEXT NOT NULL DEFAULT '';

-- Events stored before verdicts: SendGrid's own flag where it is set, else unknown.
-- dialect: sqlite
UPDATE events SET verdict = 'machine', verdict_reason = 'SendGrid flagged a machine open (sg_machine_open)'
    WHERE type = 'open' AND CAST(json_extract(raw, '$."sg_machine_open"') AS TEXT) IN ('1', 'true');
-- The raw IP address and user agent are dropped once judged (README, privacy).
UPDATE events SET raw = json_remove(raw, '$.ip', '$.useragent')
    WHERE json_valid(raw) AND (json_extract(raw, '$.ip') IS NOT NULL OR json_extract(raw, '$.useragent') IS NOT NULL);
-- dialect: postgresql
UPDATE events SET verdict = 'machine', verdict_reason = 'SendGrid flagged a machine open (sg_machine_open)'
    WHERE type = 'open' AND (CAST(raw AS JSONB) ->> 'sg_machine_open') IN ('1', 'true');
UPDATE events SET raw = CAST(CAST(raw AS JSONB) - 'ip' - 'useragent' AS TEXT)
    WHERE (CAST(raw AS JSONB) -> 'ip') IS NOT NULL OR (CAST(raw AS JSONB) -> 'useragent') IS NOT NULL;
-- dialect: all
UPDATE events SET verdict = 'unknown', verdict_reason = 'recorded before verdicts'
    WHERE type IN ('open', 'click') AND verdict = '';
DROP INDEX events_machine_opens;

-- `stats` counts recipients by verdict from this index alone (store/engagement.py's verdict_counts,
-- whose queries repeat its condition word for word, as SQLite needs to use a partial index). Only
-- opens and clicks: every other event would make each insert dearer for nothing.
CREATE INDEX events_send_verdict ON events(send_id, type, verdict, subscriber_id) WHERE type IN ('open', 'click');

-- The dashboard's roll-up of a finished send's recipients by receiving domain (store/dashboard.py):
-- written when the send page is first shown after the send, so that page never joins a million
-- ledger rows to the subscribers again. Counts only, no address.
CREATE TABLE send_domains (
    send_id    INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    domain     TEXT NOT NULL,
    recipients INTEGER NOT NULL,
    accepted   INTEGER NOT NULL,
    PRIMARY KEY (send_id, domain)
) WITHOUT ROWID;

-- Roll-ups of each send's events (store/rollups.py), caught up from the events when its page is shown.
CREATE TABLE send_rollups (
    send_id       INTEGER PRIMARY KEY REFERENCES sends(id) ON DELETE CASCADE,
    last_event_id INTEGER NOT NULL DEFAULT 0     -- events up to this id are folded in
);
CREATE TABLE send_recipient_facts (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL,
    domain        TEXT NOT NULL,
    delivered     INTEGER NOT NULL DEFAULT 0,
    bounced       INTEGER NOT NULL DEFAULT 0,
    complained    INTEGER NOT NULL DEFAULT 0,
    unsubscribed  INTEGER NOT NULL DEFAULT 0,
    open_rank     INTEGER NOT NULL DEFAULT 3,    -- best verdict of opens and clicks: 0 human, 1 unknown, 2 machine, 3 none
    click_rank    INTEGER NOT NULL DEFAULT 3,
    PRIMARY KEY (send_id, subscriber_id)
) WITHOUT ROWID;
CREATE TABLE send_domain_counts (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    what          TEXT NOT NULL,                 -- delivered, bounced, complained, unsubscribed, open:human, ...
    n             INTEGER NOT NULL,
    PRIMARY KEY (send_id, domain, what)
) WITHOUT ROWID;
CREATE TABLE send_hour_counts (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    hour          TEXT NOT NULL,                 -- 'YYYY-MM-DDTHH' (UTC)
    type          TEXT NOT NULL,                 -- open, click
    verdict       TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (send_id, hour, type, verdict)
) WITHOUT ROWID;
-- Recipients whose events were judged again after they were folded in: worked out afresh next time.
CREATE TABLE send_rollup_dirty (
    send_id       INTEGER NOT NULL REFERENCES sends(id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL,
    PRIMARY KEY (send_id, subscriber_id)
) WITHOUT ROWID;
-- A finished send's ledger counts by state (store/dashboard.py), valid while no run has started since.
CREATE TABLE send_ledger_cache (
    send_id       INTEGER PRIMARY KEY REFERENCES sends(id) ON DELETE CASCADE,
    last_run_id   INTEGER NOT NULL,
    counts        TEXT NOT NULL                  -- JSON object: state -> rows
);
