"""Fault-injection harness for the send engine (issue 8, "Prove it").

A *schedule* (``schedule.py``) is drawn from a seed: an audience, then a few
runs of ``newsletter send``, each with the providers' answers it will meet
(SendGrid statuses, one per request in order of arrival, SMTP refusals at RCPT
and after DATA), how many SendGrid requests it keeps in flight
(NEWSLETTER_CONCURRENCY 1, 2 or 4; the stand-in then adds a short round trip so
they overlap, and bursts of different faults land on requests out together),
what happens to its process (SIGKILL or SIGTERM at the n-th unit, a second run
started while it lives, SIGSTOP until its lease expires and another run takes
the send over), members leaving (unsubscribed, bounced) or joining the list
between or during runs, the provider's events, the operator's flags
(``--resend-in-doubt``, ``--skip-in-doubt``, ``--retry-failed``,
``--include-new``), and ``newsletter pause`` from another process once the
servers took n units (the server holds that unit's answer until the command
has returned, so the moment of the pause is exact) or once the run ended. The
run after a pause first tries a plain ``send`` (refused), then ``newsletter
resume``, which continues the send with the options it kept. Some schedules
start with a SendGrid send scheduled an hour ahead that members leave
(unsubscribed, bounced, complained) before its time, then ``newsletter
worker`` at that time (the library with the harness's clock, shared by the
stand-in); some second runs run on another host with a clock two minutes
ahead; some stopped runs stay on this host, where a live process is never
taken over (``cli_main`` makes a child another host, or its clock skewed).

``world.py`` plays a schedule against the real CLI and engine, the tests'
SendGrid stand-in and a real aiosmtpd server (``servers.py``), and records
(``record.py``) what every run printed, what the ledger said after it and what
the servers received.
``invariants.py`` checks the promises of the README's "Exactly once" section
against that record. ``test_harness.py`` plays a bounded number of
schedules in ``make test``; ``make harness`` plays thousands.

Welcome emails and sequences (issue 24) have schedules of their own
(``sequence_schedule.py``): members join (enrolled) and leave, several
``newsletter worker --once`` processes run the steps at once, and workers are
killed with SIGKILL at a chosen SMTP message; ``sequence_world.py`` plays
them and ``sequence_invariants.py`` checks that nobody receives a step twice
or after leaving, and that every member still on the list has every step.

A seeded generator rather than Hypothesis' stateful testing: every run goes
through real sockets, threads and processes, so a replay can differ in timing
(which of the SMTP connections gets there first); Hypothesis would call that
flaky and its shrinking would chase it, while a seed replays the same schedule
(``make harness HARNESS_SEED=S HARNESS_SCHEDULES=1``) with no new dependency.

Replays: the same seed plays the same schedule; with several requests in
flight, which request meets which answer follows their order of arrival, which
may differ between replays (as may which SMTP connection gets there first).

What the harness changes in the engine (``tuning.py``): batches of a few
recipients, so a small audience makes many requests, and end-of-run retry
rounds without a pause. Runs it may kill or stop are forked from a warm
forkserver (``cli_main.py``): real processes, started in milliseconds.
"""
