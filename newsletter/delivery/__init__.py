"""Delivery: per-recipient messages, backends (outbox, SMTP, SendGrid) and the exactly-once send loop.

Entry points (see ``engine.py``): ``plan_send``, ``run_send``, ``test_send``,
``list_sends``; backends are made with ``make_backend(name, settings)``.
"""
