-- Audience: lists that accept signups, a status per membership (double
-- opt-in), consent records, the suppression list of erased addresses, and
-- saved segments.

ALTER TABLE lists ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE lists ADD COLUMN signup INTEGER NOT NULL DEFAULT 0 CHECK (signup IN (0, 1));

-- 'pending' until the address is confirmed (double opt-in), 'unsubscribed'
-- once the person left this list (preference page). A member is on the list
-- (gets issues) only when the membership is 'active' AND the subscriber is.
ALTER TABLE memberships ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('pending', 'active', 'unsubscribed'));
ALTER TABLE memberships ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
CREATE INDEX memberships_list_status ON memberships(list_id, status);

-- One row for every time an address joined a list, and how it left.
CREATE TABLE consents (
    id             INTEGER PRIMARY KEY,
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    list_id        INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    method         TEXT NOT NULL CHECK (method IN ('form', 'import', 'add')),
    source         TEXT NOT NULL DEFAULT '',  -- import: the file name; form: 'form' or 'json' and the origin
    consent_text   TEXT NOT NULL DEFAULT '',  -- the sentence the person agreed to (form)
    consent_sha256 TEXT NOT NULL DEFAULT '',  -- SHA-256 of that sentence
    ip             TEXT NOT NULL DEFAULT '',  -- NEWSLETTER_SIGNUP_IP: the address, 'hmac-sha256:<hex>' or ''
    name           TEXT NOT NULL DEFAULT '',  -- form: the name typed, applied only on confirmation
    requested_at   TEXT NOT NULL,
    mailed_at      TEXT,                      -- form: when the confirmation email was last sent
    confirmed_at   TEXT,                      -- form: the confirmation; import/add: = requested_at
    left_at        TEXT,
    left_how       TEXT NOT NULL DEFAULT '',  -- one-click, preferences, bounce, complaint, erasure, manual
    left_detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consents_subscriber ON consents(subscriber_id, list_id);
CREATE INDEX consents_unconfirmed ON consents(requested_at) WHERE confirmed_at IS NULL;

-- Erased addresses: only a keyed hash (HMAC-SHA256 under NEWSLETTER_SECRET_KEY)
-- of the lower-cased address, so no import or `add` can bring it back.
CREATE TABLE suppressions (
    address_hash TEXT PRIMARY KEY,
    reason       TEXT NOT NULL DEFAULT 'erasure',
    created_at   TEXT NOT NULL
);

-- Saved segments: conditions over subscribers' attributes on one list.
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    list_id     INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    conditions  TEXT NOT NULL,                -- JSON array of [key, "=" or "!=", value]
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Whatever path suppresses a subscriber (one-click page, provider webhook,
-- CLI), the confirmed consent records it ends say when and how. A trigger
-- keeps every one of those paths right without each having to remember.
CREATE TRIGGER consents_close_on_suppression AFTER UPDATE OF status ON subscribers
WHEN OLD.status = 'active' AND NEW.status != 'active'
BEGIN
    UPDATE consents
    SET left_at = NEW.updated_at,
        left_how = CASE
            WHEN NEW.status = 'bounced' THEN 'bounce'
            WHEN NEW.status = 'complained' THEN 'complaint'
            WHEN NEW.status_reason IN ('manual', 'preferences', 'erasure') THEN NEW.status_reason
            ELSE 'one-click'
        END,
        left_detail = NEW.status_reason
    WHERE subscriber_id = NEW.id AND left_at IS NULL AND confirmed_at IS NOT NULL;
END;
