"""Playing a sequence schedule (``sequence_schedule.py``): the real library for joins and leaves, real
``newsletter worker --once`` processes (several at once, or one killed with SIGKILL at a chosen SMTP
message) against the harness's aiosmtpd server, and a record of what each step's ledger says and what
the server received, for ``sequence_invariants.py``."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from tests.delivery.harness.schedule import Process
from tests.delivery.harness.sequence_schedule import Event, SequenceSchedule
from tests.delivery.harness.servers import DEADLINE_S, Child, Copy, Moment, Output, Servers, wire

LIST = "news"
#: Each person's copies must say they are theirs: the issue greets them by address.
ISSUE = """---
title: "{subject}"
seo:
  url: https://news.example.org/blog/{slug}
---
Hello %%email%%, this is the issue.
"""
REFUSAL = "550 5.1.1 No such user"


@dataclass
class LeaveSeen:
    """Someone left at event ``event``: their row of each step then, and the copies of each they had."""

    email: str
    event: int
    states: dict[str, str | None]  # by step slug
    received: dict[str, int]  # by step slug


@dataclass
class PauseSeen:
    """Sequence ``name`` was paused at event ``event``: the rows of its steps in flight then (claimed or
    sending: (step slug, wire address)), and the copies of each step the server had then and just before the
    resume (event ``resumed``)."""

    name: str
    event: int
    during_workers: bool
    in_flight: set[tuple[str, str]]
    at_pause: dict[str, Counter[str]]
    at_resume: dict[str, Counter[str]] = field(default_factory=dict)
    resumed: int = 0


@dataclass
class SequenceRecord:
    """What a sequence schedule did."""

    schedule: SequenceSchedule
    slugs: dict[str, list[str]]  # sequence name -> its steps' slugs, in order
    wheres: dict[str, str] = field(default_factory=dict)  # step slug -> its condition ('' none)
    outputs: list[tuple[int, str, Output]] = field(default_factory=list)  # (event, what, output)
    leaves: list[LeaveSeen] = field(default_factory=list)
    received: dict[str, Counter[str]] = field(default_factory=dict)  # step slug -> copies by wire address
    rows: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # step slug -> email -> (state, error)
    copies: list[Copy] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)  # everyone enrolled, in order
    killed: int = 0  # workers killed mid-run
    pauses: list[PauseSeen] = field(default_factory=list)

    def describe(self) -> str:
        """What the ledger says at the end (printed with a failure)."""
        lines = []
        for slug, rows in self.rows.items():
            lines.append(f"  {slug}: " + ", ".join(f"{e} {s}" for e, (s, _) in sorted(rows.items())))
        return "\n".join(lines)


class Taken:
    """The SMTP server's ``tap`` while workers run: counts the messages it took, for a leave to wait on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.count, self.over = 0, False

    def tap(self, stage: str, what: object) -> None:
        if stage == "taken":
            with self.cond:
                self.count += 1
                self.cond.notify_all()

    def wait_for(self, n: int) -> None:
        """Until ``n`` messages were taken or the workers are done."""
        with self.cond:
            self.cond.wait_for(lambda: self.count >= n or self.over, DEADLINE_S)

    def end(self) -> None:
        with self.cond:
            self.over = True
            self.cond.notify_all()


class SequenceWorld:
    """Plays sequence schedules, each in its own folder and database, on the shared servers."""

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def play(self, schedule: SequenceSchedule, folder: Path) -> SequenceRecord:
        """Play ``schedule`` in ``folder``; return what happened."""
        from newsletter.audience.lists import create_list
        from newsletter.release.sequences import attach_file, attach_welcome
        from newsletter.settings import load_settings

        self.servers.reset()
        self.schedule, self.folder = schedule, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.database = folder / "newsletter.db"
        self.env = self._env(schedule)
        self.settings = load_settings(self.env)
        seed = schedule.seed
        slugs = {"welcome": [self._issue(f"welcome-{seed}")]}
        create_list(LIST, self.settings)
        attach_welcome(LIST, folder / f"{slugs['welcome'][0]}.md", self.settings)
        record = SequenceRecord(schedule, slugs)
        self.slugs = slugs
        if schedule.steps:
            slugs["onboarding"] = [self._issue(f"step{i}-{seed}") for i in range(1, len(schedule.steps) + 1)]
            file = folder / "onboarding.toml"
            file.write_text("\n".join(step.toml(f"{slug}.md") for step, slug in zip(schedule.steps, slugs["onboarding"],
                                                                                     strict=True)), encoding="utf-8")
            attach_file(LIST, file, self.settings, root=folder)
            record.wheres = {slug: step.where for step, slug in zip(schedule.steps, slugs["onboarding"], strict=True)}
        self.servers.smtp.refuse = {wire(a): REFUSAL for a in schedule.refused}
        self._join(schedule.members, record)
        for number, event in enumerate(schedule.events, 1):
            if event.kind == "join":
                self._join(event.who, record)
            elif event.kind == "leave":
                record.leaves.extend(self._leave(event, number))
            elif event.kind == "pause":
                record.pauses.append(self._pause(event.who[0], number, during_workers=False))
            elif event.kind == "resume":
                self._resume(event.who[0], number, record)
            elif event.kind == "workers":
                record.outputs += [(number, "worker", out) for out in self._workers(event, number, record)]
            else:
                record.outputs.append((number, "killed worker", self._kill(event, number, record)))
        every = [slug for steps in slugs.values() for slug in steps]
        subjects = {slug: self._subject(slug) for slug in every}
        record.received = {slug: self.servers.received(subjects[slug]) for slug in every}
        record.copies = [c for slug in every for c in self.servers.copies(subjects[slug])]
        record.rows = {slug: self._rows(slug) for slug in every}
        return record

    def _env(self, schedule: SequenceSchedule) -> dict[str, str]:
        return {
            "NEWSLETTER_ENV_FILE": os.devnull,
            "NEWSLETTER_DATABASE": str(self.database),
            "NEWSLETTER_SECRET_KEY": "harness-secret-key-0123456789abcdef",
            "NEWSLETTER_OUTBOX": str(self.folder / "outbox"),
            "NEWSLETTER_BUILD_DIR": str(self.folder / "build"),
            "NEWSLETTER_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.servers.smtp_port),
            "SMTP_SECURITY": "none",
            "SMTP_TIMEOUT": "20",
            "SMTP_CONNECTIONS": str(schedule.connections),
            "NEWSLETTER_ALLOW_LOCAL_LINKS": "on",
            "NEWSLETTER_DNS_RESOLVER": os.environ["NEWSLETTER_DNS_RESOLVER"],
        }

    def _subject(self, slug: str) -> str:
        return f"Sequence harness {slug}"

    def _issue(self, slug: str) -> str:
        (self.folder / f"{slug}.md").write_text(ISSUE.format(subject=self._subject(slug), slug=slug), encoding="utf-8")
        return slug

    def _join(self, who: tuple[str, ...], record: SequenceRecord) -> None:
        """They join the list as `subscribers add --welcome` makes them (enrolled in the same transaction)."""
        from newsletter.audience.members import add_subscriber
        from newsletter.store import connect, transaction
        from newsletter.store import subscribers as store

        with closing(connect(self.database)) as conn, transaction(conn):
            for email in who:
                store.upsert_subscriber(conn, email, "", {"plan": self.schedule.plans[email]})
        for email in who:
            add_subscriber(email, LIST, self.settings, welcome=True)
        record.joined.extend(who)

    def _leave(self, event: Event, number: int) -> list[LeaveSeen]:
        """They unsubscribe; in the same transaction (the write lock: no claim meanwhile), note their rows and
        the copies of each step they had."""
        from newsletter.store import connect, transaction
        from newsletter.store import subscribers as store

        seen = []
        with closing(connect(self.database)) as conn, transaction(conn):
            slugs = [slug for steps in self.slugs.values() for slug in steps]
            for email in event.who:
                person = store.find_subscriber(conn, email)
                assert person is not None, email
                store.set_status(conn, person.id, "unsubscribed", "harness")
                states = {}
                for slug in slugs:
                    row = conn.execute("SELECT d.state FROM deliveries d JOIN sends s ON s.id = d.send_id"
                                       " WHERE s.slug = ? AND d.subscriber_id = ?", (slug, person.id)).fetchone()
                    states[slug] = row[0] if row else None
                received = {slug: self.servers.received(self._subject(slug))[wire(email)] for slug in slugs}
                seen.append(LeaveSeen(email, number, states, received))
        return seen

    def _received(self, name: str) -> dict[str, Counter[str]]:
        return {slug: Counter(self.servers.received(self._subject(slug))) for slug in self.slugs[name]}

    def _pause(self, name: str, number: int, *, during_workers: bool) -> PauseSeen:
        """Pause sequence ``name`` as ``sequences pause`` does (``store.sequences.set_paused``), and in the same
        transaction (the write lock: no claim or record meanwhile) note which of its rows are in flight and the
        copies the server has."""
        from newsletter.store import connect, transaction
        from newsletter.store import sequences as store

        with closing(connect(self.database)) as conn, transaction(conn):
            [sequence] = store.find(conn, name, LIST)
            in_flight = {(slug, wire(email)) for slug, email in conn.execute(
                "SELECT s.slug, p.email FROM deliveries d JOIN sends s ON s.id = d.send_id"
                " JOIN subscribers p ON p.id = d.subscriber_id WHERE s.list_id = ? AND (s.audience = ?"
                " OR s.audience LIKE ?) AND d.state IN ('claimed', 'sending')",
                (sequence["list_id"], store.audience_key(name), store.audience_key(name) + "#%"))}
            seen = PauseSeen(name, number, during_workers, in_flight, self._received(name))
            assert store.set_paused(conn, sequence["id"], paused=True, by="harness")
        return seen

    def _resume(self, name: str, number: int, record: SequenceRecord) -> None:
        """What the server has of ``name`` just before the resume (nothing of it runs while paused), then
        ``sequences resume`` (the library)."""
        from newsletter.release.sequence_pause import resume

        for seen in record.pauses:
            if seen.name == name and not seen.resumed:
                seen.at_resume, seen.resumed = self._received(name), number
        resume(name, self.settings, actor="harness", list_name=LIST)

    def _spawn(self, name: str) -> Child:
        return Child(["worker", "--once"], self.env, 3, self.folder, name)

    def _workers(self, event: Event, number: int, record: SequenceRecord) -> list[Output]:
        """``event.n`` workers at once, each to its end; ``event.who`` leave once the server took ``event.at``
        messages (or when the workers are done, if it never did)."""
        taken = Taken()
        self.servers.smtp.tap = taken.tap
        children = [self._spawn(f"event-{number}-worker-{i}") for i in range(event.n)]
        leaving = threading.Thread(target=lambda: (taken.wait_for(event.at),
                                                   record.leaves.extend(self._leave(event, number))),
                                   name="harness-leave") if event.who else None
        pausing = threading.Thread(target=lambda: (taken.wait_for(event.pause_at), record.pauses.append(
            self._pause(event.pause, number, during_workers=not taken.over))), name="harness-pause") \
            if event.pause else None
        for thread in (leaving, pausing):
            if thread is not None:
                thread.start()
        outputs = []
        try:
            for child in children:
                child.wait()
                outputs.append(child.output())
        finally:
            taken.end()
            for thread in (leaving, pausing):
                if thread is not None:
                    thread.join(DEADLINE_S)
            self.servers.smtp.tap = None
        return outputs

    def _kill(self, event: Event, number: int, record: SequenceRecord) -> Output:
        """One worker, killed (SIGKILL) when the server sees its ``event.at``-th message in ``event.phase``."""
        moment = Moment(Process("kill", event.at, event.phase))
        self.servers.smtp.tap = moment.tap
        child = self._spawn(f"event-{number}-killed")
        moment.pid = child.pid
        moment.watch(child)
        try:
            moment.wait_for(lambda: moment.over)
        finally:
            self.servers.smtp.tap = None
            child.signal(9)
        record.killed += moment.fired
        return child.output()

    def _rows(self, slug: str) -> dict[str, tuple[str, str]]:
        with closing(sqlite3.connect(self.database, timeout=60)) as conn:
            return {email: (state, error) for email, state, error in conn.execute(
                "SELECT p.email, d.state, d.error FROM deliveries d JOIN sends s ON s.id = d.send_id"
                " JOIN subscribers p ON p.id = d.subscriber_id WHERE s.slug = ?", (slug,))}
