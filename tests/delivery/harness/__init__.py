"""Fault-injection harness for the send engine (issue 8, "Prove it").

A *schedule* (``schedule.py``) is drawn from a seed: an audience, then a few
runs of ``newsletter send``, each with the providers' answers it will meet
(SendGrid statuses, SMTP refusals at RCPT and after DATA), what happens to its
process (SIGKILL or SIGTERM at the n-th message, a second run started while it
lives), members leaving the list between or during runs, and the operator's
flags (``--resend-in-doubt``, ``--skip-in-doubt``, ``--retry-failed``).

``world.py`` plays a schedule against the real CLI and engine, the tests'
SendGrid stand-in and a real aiosmtpd server, and records what every run
printed, what the ledger said after it and what the servers received.
``invariants.py`` checks the promises of the README's "Exactly once" section
against that record. ``test_delivery_harness.py`` runs a bounded number of
schedules in ``make test``; ``make harness`` runs thousands.

A seeded generator rather than Hypothesis' stateful testing: every run goes
through real sockets, threads and subprocesses, so a replay can differ in
timing (which lane of SMTP connections gets there first); Hypothesis would
call that flaky and its shrinking would chase it, while a seed replays the
same schedule (``HARNESS_SEED=S HARNESS_SCHEDULES=1 make harness``) with no
new dependency.
"""
