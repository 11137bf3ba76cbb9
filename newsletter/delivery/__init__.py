"""Delivery: per-recipient messages, backends (outbox, SMTP, SendGrid) and the exactly-once send loop.

- ``send.send_issue``: plan a send, fix its audience, hold its lease and run it;
- ``run.SendRun``: the loop (claim a batch, hand it over, record every outcome);
- ``registry.make_backend``: a backend by name (``base.Backend``, one module each);
- ``lease``: a run's hold on a send; ``status``: sends with their status from the ledger.
"""
