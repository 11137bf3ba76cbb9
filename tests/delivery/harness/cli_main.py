"""The real ``newsletter`` command in a process of its own, for runs the harness may kill.

Processes are forked from a multiprocessing forkserver that has the CLI and
its heavy libraries imported already (``PRELOAD``): a run then starts in
milliseconds instead of a second, yet it is a separate process with its own
database connections and sockets, killed with a real SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.context import ForkServerContext

#: Imported once by the forkserver, so every run forked from it starts warm.
PRELOAD = ["tests.delivery.harness.cli_main", "tests.delivery.harness.tuning",
           "newsletter.cli", "newsletter.cli.delivery", "newsletter.cli.release",
           "newsletter.compose", "newsletter.compose.pipeline",
           "newsletter.delivery.send", "newsletter.delivery.run", "newsletter.delivery.message",
           "newsletter.delivery.smtp", "newsletter.delivery.sendgrid", "newsletter.store.ledger", "newsletter.store.sends",
           "sendgrid", "python_http_client", "premailer", "mjml", "lxml.html", "jinja2", "markdown_it",
           "rich.progress", "smtplib", "email.policy"]

_context: ForkServerContext | None = None


def context() -> ForkServerContext:
    """The forkserver context (started on first use, kept for the session)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run_cli(args: list[str], env: dict[str, str], batch: int, stdout: str, stderr: str) -> None:
    """In the child: settings only from ``env``, output to the files ``stdout``/``stderr``, then the CLI (it exits)."""
    from newsletter.cli import main
    from newsletter.settings import setting_names
    from tests.delivery.harness.tuning import tuned

    # A process group of its own: when the harness's group is orphaned (nohup, CI), the kernel sends every
    # stopped member SIGCONT as soon as any member exits, which would end a SIGSTOP the harness sent.
    os.setpgid(0, 0)
    for name in setting_names():
        os.environ.pop(name, None)
    os.environ.update(env)
    _pretend(env)
    for fd, path in ((1, stdout), (2, stderr)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.argv = ["newsletter", *args]
    with tuned(batch):
        main()


#: Harness-only variables of a child: it runs on another host (``HARNESS_HOST``), with a clock that is off
#: by this many seconds (``HARNESS_CLOCK_SKEW_S``: every reading of ``time.time()`` in the process).
HOST_VARIABLE, SKEW_VARIABLE = "HARNESS_HOST", "HARNESS_CLOCK_SKEW_S"


def _pretend(env: dict[str, str]) -> None:
    import time

    host, skew = env.get(HOST_VARIABLE), float(env.get(SKEW_VARIABLE) or 0)
    if host:  # the runs it opens name that host, and it judges this host's runs as another host's
        from newsletter.delivery import lease

        lease.HOST = host
    if skew:
        real = time.time
        time.time = lambda: real() + skew
