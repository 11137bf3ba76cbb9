"""One run of a send: claim a batch, hand it to the backend, record every outcome, repeat.

``SendRun.execute`` is the loop; the guarantees come from the order of its
steps (journal first, then act) and from the moves of the ledger
(``store/ledger.py``, whose table of states this loop follows):

1. a batch is claimed in one transaction before any I/O: rows go to
   'sending' (a backend that hands the batch over in one request) or to
   'claimed' and then to 'sending' one message at a time, just before each
   hand-over (``LedgerJournal.handing_over``);
2. the backend returns an outcome for every recipient; accepted, failed and
   in-doubt ones are recorded, ones that provably did not go out are
   released (the run stops) or recorded as failed and retried at the end
   (temporary refusals);
3. up to ``concurrency`` batches are in flight at once (backends that hand a
   batch over in one request); the rate limit paces all of them;
4. between batches the run stops when asked (Ctrl-C, SIGTERM, ``stop``), or
   when its lease was lost; the batches in flight are recorded first, never
   abandoned silently.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from newsletter.delivery.base import ACCEPTED, FAILED, IN_DOUBT, RETRY, Backend, BatchResult, Outcome, Recipient
from newsletter.delivery.lease import Lease
from newsletter.delivery.plan import Progress
from newsletter.errors import DeliveryError, NewsletterError
from newsletter.store import display_name, ledger
from newsletter.store import runs as run_store


class LedgerJournal:
    """The ledger as a per-message backend sees it (thread-safe: SMTP lanes share it)."""

    def __init__(self, conn: Any, send_id: int, run_id: int) -> None:
        self.conn, self.send_id, self.run_id = conn, send_id, run_id
        self.lock = threading.Lock()
        self.recorded: set[int] = set()  # rows of the batch in flight already recorded
        self.lost = 0  # outcomes whose row was no longer this run's

    def handing_over(self, recipient: Recipient) -> bool:
        """Journal 'sending' for this message before it leaves; False if the claim is gone."""
        with self.lock:
            return ledger.mark_sending(self.conn, self.send_id, self.run_id, recipient.subscriber_id)

    def answered(self, outcome: Outcome) -> None:
        """Record a final outcome at once (so a crash cannot turn it into doubt).

        A ``retry`` (refused for now) is no longer in flight: its row goes back
        to 'claimed', so a crash before the batch ends does not make it in doubt.
        """
        if outcome.state in (ACCEPTED, FAILED, IN_DOUBT):
            self.record([outcome])
        elif outcome.state == RETRY:
            with self.lock:
                ledger.unmark_sending(self.conn, self.send_id, self.run_id, outcome.subscriber_id)

    def still_holds(self) -> bool:
        """False once the run has ended (taken over after its lease expired while it stalled)."""
        with self.lock:
            return not run_store.has_ended(self.conn, self.run_id)

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Record final outcomes in one transaction."""
        rows = [(o.subscriber_id, o.state, o.message_id, o.error) for o in outcomes]
        if not rows:
            return
        with self.lock:
            matched = ledger.record(self.conn, self.send_id, self.run_id, rows)
            self.recorded.update(o.subscriber_id for o in outcomes)
            self.lost += len(rows) - matched


@dataclass
class RunCounts:
    """What one run did."""

    accepted: int = 0
    failed: int = 0
    in_doubt: int = 0
    done: int = 0
    interrupted: bool = False

    def add(self, outcomes: Sequence[Outcome]) -> None:
        """Count final outcomes."""
        for o in outcomes:
            if o.state == ACCEPTED:
                self.accepted += 1
            elif o.state == FAILED:
                self.failed += 1
            elif o.state == IN_DOUBT:
                self.in_doubt += 1


@dataclass
class SendRun:
    """One run of one send over an open backend, holding the send's lease."""

    conn: Any
    backend: Backend
    lease: Lease
    send_id: int
    list_id: int
    make_recipient: Callable[[ledger.Claimed], Recipient]
    rate: float = 0.0
    retry_delays: Sequence[float] = ()
    progress: Progress | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    total: int = 0
    concurrency: int = 1
    counts: RunCounts = field(default_factory=RunCounts)
    # Set up by __post_init__ and changed as the run goes:
    journal: LedgerJournal = field(init=False)
    size: int = field(init=False)  # recipients a batch claims
    window: int = field(init=False)  # batches in flight at once
    batch_no: int = field(init=False)  # the last batch number used in this send
    started: float = field(init=False)  # time.monotonic() at the start, for the rate limit
    submitted: int = field(init=False, default=0)  # recipients handed to the backend so far
    temporary: list[int] = field(init=False, default_factory=list)  # refused for now: retried at the end
    in_flight: dict[Future[BatchResult], list[Recipient]] = field(init=False, default_factory=dict)
    error: BaseException | None = field(init=False, default=None)  # what stops the run once in flight is recorded

    def __post_init__(self) -> None:
        self.journal = LedgerJournal(self.conn, self.send_id, self.lease.run_id)
        self.size = self.backend.max_batch if not self.rate else max(1, min(self.backend.max_batch, int(self.rate)))
        # Several batches in flight only for a backend whose batch is one request; per-message
        # backends (SMTP) spread each batch over their own connections.
        self.window = max(1, self.concurrency) if not self.backend.per_message else 1
        self.batch_no = ledger.next_batch_number(self.conn, self.send_id) - 1
        self.started = time.monotonic()

    def execute(self, sources: Sequence[str]) -> RunCounts:
        """Send every row in ``sources`` (e.g. in_doubt, failed, queued) in turn, then retry temporary refusals.

        Up to ``window`` batches are in flight at once; each is claimed before it
        leaves and recorded when its answer comes, so a crash leaves at most
        those batches in doubt. The rate limit paces the hand-overs of all of them.
        """
        pool = ThreadPoolExecutor(max_workers=self.window, thread_name_prefix="batch")
        # What exists before the loop (imports, the composed issue) lives until the run ends: frozen, the
        # collector's full passes skip it, and a long send stops paying for it again and again.
        gc.freeze()
        try:
            for source in sources:
                self._pump(pool, self._claims(source))
            self._drain()
            for delay in self.retry_delays:
                if not self.temporary or self._stopping() or self.stop.wait(delay):
                    break
                ids, self.temporary = sorted(self.temporary), []
                self.counts.failed -= len(ids)  # counted once already; counted again by their new outcome
                self._pump(pool, self._reclaims(ids))
                self._drain()
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                self._drain()  # what is in flight is recorded before the error is reported
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()
        if self.error is not None:
            raise self.error
        self.counts.interrupted = self._stopping()  # raises if this run lost the send meanwhile
        return self.counts

    def _claims(self, source: str) -> Iterator[Sequence[ledger.Claimed]]:
        after, passes = 0, 2 if self.lease.worker else 1
        while True:
            self.batch_no += 1
            with self.journal.lock:
                wanted = ledger.Wanted(source, after, self.size, self.batch_no, not self.backend.per_message)
                rows, seen = ledger.claim(self.conn, self.send_id, self.list_id, self.lease.run_id, wanted)
            if seen == after:  # nothing left in this state above ``after``
                passes -= 1
                if not passes or not after:
                    return
                # A worker skips the rows other workers are claiming; one more pass from the
                # start takes any they gave back (or that a dead worker's claims returned).
                after = 0
                continue
            after = seen
            if rows:
                yield rows
            elif not self.lease.check(force=True):  # rows were there, none taken: members who left, or a takeover
                return

    def _reclaims(self, ids: Sequence[int]) -> Iterator[Sequence[ledger.Claimed]]:
        for start in range(0, len(ids), self.size):
            self.batch_no += 1
            with self.journal.lock:
                rows = ledger.claim_ids(self.conn, self.send_id, self.lease.run_id, ids[start : start + self.size],
                                        batch=self.batch_no, handed_over=not self.backend.per_message)
            if rows:
                yield rows
            elif not self.lease.check(force=True):
                return

    def _stopping(self) -> bool:
        if not self.lease.check():
            raise DeliveryError(
                f"this run lost its hold on send {self.send_id} (its lease expired and another run took it over); "
                "what it had in flight is in doubt", subject=display_name(self.lease.database),
            )
        return self.stop.is_set() or self.error is not None

    def _pump(self, pool: ThreadPoolExecutor, claims: Iterator[Sequence[ledger.Claimed]]) -> None:
        """Hand the claimed batches to the backend, keeping at most ``window`` in flight.

        A batch is claimed only when it can leave at once, so a crash never finds
        a claimed batch that was merely waiting for its turn.
        """
        while True:
            while len(self.in_flight) >= self.window:
                self._collect(FIRST_COMPLETED)
            if self.rate and not self._stopping():
                ahead = self.submitted / self.rate - (time.monotonic() - self.started)
                if ahead > 0:
                    self.stop.wait(ahead)
            if self._stopping():
                return
            rows = next(claims, None)
            if rows is None:
                return
            if self.stop.is_set():  # asked to stop (a pause) while this batch was claimed: it does not leave
                with self.journal.lock:
                    ledger.unclaim(self.conn, self.send_id, self.lease.run_id, [row[0] for row in rows])
                return
            try:
                batch = self.backend.prepare([self.make_recipient(row) for row in rows])
            except Exception:  # nothing of it left (preparing does no I/O): the claim is undone
                with self.journal.lock:
                    ledger.unclaim(self.conn, self.send_id, self.lease.run_id, [row[0] for row in rows])
                raise
            self.in_flight[pool.submit(self.backend.send_batch, batch, self.journal)] = batch
            self.submitted += len(batch)

    def _drain(self) -> None:
        while self.in_flight:
            self._collect(ALL_COMPLETED)

    def _collect(self, how: str) -> None:
        done, _ = wait(list(self.in_flight), return_when=how)
        for future in done:
            batch = self.in_flight.pop(future)
            try:
                result = future.result()
            except NewsletterError as exc:
                # A batch request fails so only before anything of it left: its claims are undone. A per-message
                # backend may fail mid-batch (the journal cannot write: a full disk): its rows stay as journaled,
                # and the lease's end settles them ('claimed' back, 'sending' in doubt).
                if not self.backend.per_message:
                    with self.journal.lock:
                        ledger.unclaim(self.conn, self.send_id, self.lease.run_id, [r.subscriber_id for r in batch])
                self.error = self.error or exc
                continue
            except Exception as exc:  # a bug: its rows stay claimed, and the lease's end puts them in doubt
                self.error = self.error or exc
                continue
            self._record(batch, result)
            self.counts.done += len(batch)
            if self.progress is not None:
                self.progress(self.counts.done, max(self.total, self.counts.done),
                              {"accepted": self.counts.accepted, "failed": self.counts.failed,
                               "in_doubt": self.counts.in_doubt})
            if self.journal.lost:
                self.lease.lost.set()
            if result.stop is not None:
                self.error = self.error or result.stop

    def _record(self, batch: Sequence[Recipient], result: BatchResult) -> None:
        by_id = {o.subscriber_id: o for o in result.outcomes}
        # A backend that forgot a recipient cannot say it did not go out.
        missing = [Outcome(r.subscriber_id, IN_DOUBT, error="the backend reported no outcome")
                   for r in batch if r.subscriber_id not in by_id]
        outcomes = list(result.outcomes) + missing
        self.counts.add(outcomes)
        unrecorded = [o for o in outcomes if o.subscriber_id not in self.journal.recorded]
        not_sent = [o.subscriber_id for o in unrecorded if o.state == RETRY]
        if result.stop is not None:
            with self.journal.lock:
                ledger.unclaim(self.conn, self.send_id, self.lease.run_id, not_sent)
        elif not_sent:
            temporary = [Outcome(o.subscriber_id, FAILED, error=f"temporary: {o.error}") for o in unrecorded if o.state == RETRY]
            self.journal.record(temporary)
            self.counts.failed += len(temporary)
            self.temporary.extend(not_sent)
        self.journal.record([o for o in unrecorded if o.state != RETRY])
        # What the journal recorded is of this batch only: a row retried at the end of
        # the run must have its new answer recorded too.
        with self.journal.lock:
            self.journal.recorded.difference_update(r.subscriber_id for r in batch)


def interrupted_message(error: NewsletterError, totals_line: str) -> NewsletterError:
    """The run's stopping error with what the ledger now says appended (one line for the CLI)."""
    error.message = f"{error.message}; send stopped with {totals_line} (run the command again to resume)"
    return error
