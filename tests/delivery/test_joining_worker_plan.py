"""A worker joining a live send counts what another live worker has in flight as in flight, not as
"in doubt from an earlier run" (only a run that is gone leaves rows in doubt)."""

from __future__ import annotations

from newsletter.compose import compose_checked
from newsletter.delivery.lease import Lease
from newsletter.delivery.send import send_version
from newsletter.store import connect, ledger, sends
from newsletter.store import subscribers as people
from newsletter.store.segments import Audience


def test_a_joining_worker_leaves_a_live_workers_rows_out_of_doubt(cli, settings, make_list, issue):
    make_list("news", 10)
    result = compose_checked(issue, settings)
    conn = connect(settings.newsletter_database)
    try:
        list_id = people.find_list(conn, "news")
        send_id, _, _ = sends.create_send(conn, result.issue.slug, list_id, Audience(),
                                          send_version(result, settings.newsletter_backend))
        # Another worker (this process: alive) holds the send and has four rows, two of them on the wire.
        lease = Lease(conn, settings.newsletter_database, send_id, seconds=60, timeout=10, worker=True).acquire()
        claimed, _ = ledger.claim(conn, send_id, list_id, lease.run_id, ledger.Wanted("queued", 0, 4, 1, False))
        for subscriber_id, *_ in claimed[:2]:
            assert ledger.mark_sending(conn, send_id, lease.run_id, subscriber_id)

        run = cli(settings, "send", issue, "--list", "news", "--worker", "--dry-run")
        assert run.exit_code == 0, run.output
        assert "Recipients: 6 to send" in run.stdout
        assert "In flight:  4 with another run now (left to it)" in run.stdout
        assert "In doubt" not in run.stdout

        lease.end("killed")  # now the run is over: what it had on the wire is in doubt, the rest queued again
        run = cli(settings, "send", issue, "--list", "news", "--worker", "--dry-run")
        assert "Recipients: 8 to send" in run.stdout
        assert "In doubt:   2 from an earlier run" in run.stdout and "In flight" not in run.stdout
    finally:
        conn.close()
