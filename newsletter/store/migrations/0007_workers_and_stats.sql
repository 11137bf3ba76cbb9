-- Send workers: several runs may hold one send at once if every one of them
-- is a worker (`send --worker`); a run that is not one still holds it alone.
ALTER TABLE send_runs ADD COLUMN worker INTEGER NOT NULL DEFAULT 0 CHECK (worker IN (0, 1));

-- `stats` at millions of events: every count it makes reads an index alone.
DROP INDEX events_send_type;
CREATE INDEX events_send_type ON events(send_id, type, subscriber_id, url);
-- Machine opens (Apple MPP): the condition is store/events.py's `_machine_open`, as each database
-- writes it (type = 'open' is in the query; leaving it out of the condition lets SQLite's planner
-- see that this index serves the query best).
-- dialect: sqlite
CREATE INDEX events_machine_opens ON events(send_id, type, subscriber_id, email)
    WHERE CAST(json_extract(raw, '$."sg_machine_open"') AS TEXT) IN ('1', 'true');
-- dialect: postgresql
CREATE INDEX events_machine_opens ON events(send_id, type, subscriber_id, email)
    WHERE (CAST(raw AS JSONB) ->> 'sg_machine_open') IN ('1', 'true');
