"""Normalising, storing and acting on SendGrid events; ``newsletter events import``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.tracking.provider_events import ingest_sendgrid, normalise_sendgrid


def sg(kind: str, send_id, subscriber_id, n: int, **extra) -> dict:
    """A SendGrid-shaped event with our custom_args flattened in, as strings."""
    return {"email": extra.pop("email", "ann@example.org"), "timestamp": 1795000000 + n, "event": kind,
            "sg_event_id": f"evt-{kind}-{n}", "sg_message_id": "m.1", "send_id": str(send_id),
            "subscriber_id": str(subscriber_id), **extra}


def test_normalise_keeps_raw_and_reads_custom_args():
    raw = sg("click", 4, 7, 1, url="https://example.org/b")
    event = normalise_sendgrid(raw)
    assert (event.type, event.send_id, event.subscriber_id, event.url) == ("click", 4, 7, "https://example.org/b")
    assert event.event_key == "sg:evt-click-1" and event.raw is raw
    assert event.occurred_at == "2026-11-18T11:06:41Z"
    assert normalise_sendgrid({"no": "event"}) is None and normalise_sendgrid("text") is None
    assert normalise_sendgrid({"event": "open", "send_id": "x1", "subscriber_id": "-3"}).send_id is None


def test_ingest_dedups_and_matches(db, seed_send):
    ids = seed_send()
    send, (ann, bob, _) = ids["send_id"], ids["subscribers"]
    batch = [sg("delivered", send, ann, 1), sg("open", send, ann, 2), sg("delivered", send, bob, 3, email="bob@example.org"),
             sg("open", send, ann, 2), 42]
    first = ingest_sendgrid(db, batch)
    assert (first.received, first.stored, first.duplicates, first.ignored) == (5, 3, 1, 1)
    again = ingest_sendgrid(db, batch)
    assert (again.stored, again.duplicates) == (0, 4)
    message_id, params = db.dialect.json_text("raw", "sg_message_id")
    rows = db.execute(f"SELECT type, send_id, subscriber_id, {message_id} FROM events ORDER BY id", params).fetchall()
    assert [tuple(r) for r in rows] == [("delivered", send, ann, "m.1"), ("open", send, ann, "m.1"),
                                        ("delivered", send, bob, "m.1")]


def test_unknown_ids_fall_back_to_email_or_null(db, seed_send):
    ids = seed_send()
    bob = ids["subscribers"][1]
    ingest_sendgrid(db, [sg("open", 999, 999, 1, email="BOB@example.org"), sg("open", "", "", 2, email="x@nowhere.org")])
    rows = db.execute("SELECT send_id, subscriber_id FROM events ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(None, bob), (None, None)]


def test_status_changes_only_get_worse_and_soft_bounces_do_not_count(db, seed_send, status_of):
    ids = seed_send()
    send, (ann, bob, cy) = ids["send_id"], ids["subscribers"]
    result = ingest_sendgrid(db, [
        sg("bounce", send, ann, 1, type="bounce"),
        sg("unsubscribe", send, ann, 2),
        sg("bounce", send, bob, 3, type="blocked", email="bob@example.org"),
        sg("group_unsubscribe", send, cy, 4, email="cy@example.org"),
        sg("spamreport", send, cy, 5, email="cy@example.org"),
    ])
    assert result.status_changes == 3
    assert (status_of(ann), status_of(bob), status_of(cy)) == ("bounced", "active", "complained")


def test_a_repeated_old_bounce_does_not_suppress_again(db, seed_send, status_of):
    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    ingest_sendgrid(db, [sg("bounce", send, ann, 1)])
    db.execute("UPDATE subscribers SET status = 'active' WHERE id = ?", (ann,))  # re-subscribed by an operator
    ingest_sendgrid(db, [sg("bounce", send, ann, 1)])  # SendGrid retries the same event
    assert status_of(ann) == "active"


def test_events_import_cli(tmp_path, seed_send, cli_env, status_of):
    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    path = tmp_path / "events.json"
    path.write_text(json.dumps([sg("delivered", send, ann, 1), sg("bounce", send, ann, 2)]), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["events", "import", str(path)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "2 stored" in result.output and "1 subscriber status changes" in result.output
    result = runner.invoke(app, ["events", "import", str(path)], env=cli_env)
    assert "0 stored, 2 already known" in result.output
    assert status_of(ann) == "bounced"


def test_events_import_bad_files_are_one_line_exit_2(tmp_path, cli_env, settings):
    runner = CliRunner()
    cases = {"broken.json": "[{\"event\": ", "object.json": "{\"event\": \"open\"}", "junk.json": "[1, 2, 3]"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name in [*cases, "missing.json"]:
        result = runner.invoke(app, ["events", "import", str(tmp_path / name)], env=cli_env)
        assert result.exit_code == 2, (name, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output


def test_events_import_reports_progress_per_batch(tmp_path, seed_send, settings, status_of, monkeypatch):
    from newsletter.tracking import provider_events as events

    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    path = tmp_path / "events.json"
    items = [sg("delivered", send, ann, n) for n in range(4)] + [sg("bounce", send, ann, 9), {"event": 1}]
    path.write_text(json.dumps(items), encoding="utf-8")
    monkeypatch.setattr(events, "IMPORT_BATCH", 2)
    calls: list[tuple[int, int | None]] = []
    result = events.import_events_file(path, settings, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, None), (4, None), (6, 6)]  # after every full batch; the total is known at the end
    assert (result.received, result.stored, result.ignored, result.status_changes) == (6, 5, 1, 1)
    assert status_of(ann) == "bounced"


def event_lines(events: list) -> str:
    """A saved event array with one element per line (element i on line i + 2)."""
    return "[\n" + ",\n".join(json.dumps(e) for e in events) + "\n]\n"


def test_events_import_streams_in_batches_and_reports_unusable_lines(tmp_path, seed_send, cli_env, db, monkeypatch):
    import newsletter.tracking.jsonstream as jsonstream
    import newsletter.tracking.provider_events as events

    monkeypatch.setattr(events, "IMPORT_BATCH", 3)
    monkeypatch.setattr(jsonstream, "BLOCK_CHARS", 100)  # elements cut across blocks
    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    items: list = [sg("open", send, ann, n) for n in range(20)]
    items[4], items[11] = "not an event", {"no": "event field"}
    items.append(sg("open", send, ann, 0))  # a repeat, in another batch
    path = tmp_path / "events.json"
    path.write_text(event_lines(items), encoding="utf-8")
    result = CliRunner().invoke(app, ["events", "import", str(path)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "21 events read: 18 stored, 1 already known, 2 unusable" in result.stdout
    assert [line.split(": skipped:")[0] for line in result.stderr.splitlines()] == [f"{path}:6", f"{path}:13"]
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 18


def test_events_file_broken_halfway_stores_nothing_and_names_its_line(tmp_path, seed_send, cli_env, db, monkeypatch):
    import newsletter.tracking.provider_events as events

    monkeypatch.setattr(events, "IMPORT_BATCH", 3)
    ids = seed_send()
    send, ann = ids["send_id"], ids["subscribers"][0]
    good = event_lines([sg("bounce", send, ann, n) for n in range(30)])
    cases = {
        "syntax.json": (good.replace('"event": "bounce", "sg_event_id": "evt-bounce-17"',
                                     '"event": "bounce" "sg_event_id": "evt-bounce-17"'), 19, "not valid JSON"),
        "unclosed.json": (good.rstrip().removesuffix("]"), 32, "not valid JSON (the array is not closed)"),
        "trailing.json": (good + "{}\n", 33, "not valid JSON (text after the array)"),
        "latin1.json": (good.replace("evt-bounce-25", "évt-bounce-25"), 27, "not UTF-8"),
    }
    for name, (text, line, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(text.encode("latin-1" if name == "latin1.json" else "utf-8"))
        result = CliRunner().invoke(app, ["events", "import", str(path)], env=cli_env)
        assert result.exit_code == 2, (name, result.output)
        assert result.output.strip() == result.output.strip().splitlines()[0], result.output
        assert result.output.startswith(f"Error: {path}:{line}: {message}"), result.output
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0, name
    assert db.execute("SELECT status FROM subscribers WHERE id = ?", (ann,)).fetchone()[0] == "active"


def test_ids_are_plain_positive_integers_or_nothing():
    for value, expected in [("12", 12), (" 7 ", 7), (3, 3), ("²", None), ("١٢", None), (True, None), (0, None),
                            ("-4", None), (2.0, None), ("9" * 19, None)]:
        assert normalise_sendgrid({"event": "open", "send_id": value}).send_id == expected, value
