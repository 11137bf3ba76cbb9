-- Send workers: several runs may hold one send at once if every one of them
-- is a worker (`send --worker`); a run that is not one still holds it alone.
ALTER TABLE send_runs ADD COLUMN worker INTEGER NOT NULL DEFAULT 0 CHECK (worker IN (0, 1));
