-- The ledger is written twice per recipient (claimed, then its outcome) and read a send at a
-- time in subscriber order: the primary key (send_id, subscriber_id) serves every query on it.
-- An index on state doubled the cost of each of those writes (a send of 100,000 spent about
-- 15% of its time keeping it) and saved no query more than a scan of the send's own rows.
DROP INDEX deliveries_state;
