-- Provider and tracking events, normalised, with the raw event kept.

CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,               -- 'sendgrid', 'tracking', 'unsubscribe-page', ...
    event_key     TEXT UNIQUE,                 -- de-duplication key (SendGrid's sg_event_id); NULL if none
    type          TEXT NOT NULL,               -- processed, delivered, deferred, dropped, bounce, open, click,
                                               -- spamreport, unsubscribe, group_unsubscribe, group_resubscribe
    send_id       INTEGER REFERENCES sends(id) ON DELETE SET NULL,
    subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
    email         TEXT NOT NULL DEFAULT '',
    url           TEXT NOT NULL DEFAULT '',
    occurred_at   TEXT NOT NULL,
    raw           TEXT NOT NULL DEFAULT '{}'   -- the event as the provider sent it (JSON)
);
CREATE INDEX events_send_type ON events(send_id, type);
CREATE INDEX events_subscriber ON events(subscriber_id);
