-- Pausing a sequence (`newsletter sequences pause NAME`, store/sequences.py set_paused): while paused_at
-- is set the worker writes no step row of it and runs none of its step sends; a step send in progress
-- stops after the batches in flight. NULL: not paused.
ALTER TABLE sequences ADD COLUMN paused_at TEXT;
ALTER TABLE sequences ADD COLUMN paused_by TEXT NOT NULL DEFAULT '';
