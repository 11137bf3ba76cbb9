"""uvicorn's access log without the tokens in our links.

A token in ``/u/``, ``/p/``, ``/confirm/``, ``/c/`` or ``/o/`` is the key to one
person's unsubscribe button or preference page (a preference token never
expires and shows the address): a log line must not hand it to whoever reads
the logs. ``redact`` writes ``/p/[token]`` instead; ``RedactTokens`` does it to
every access-log record, and ``log_config`` is uvicorn's own logging set-up
with that filter on its access handler (each ``--workers`` process applies it).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

#: The routes whose second path segment is a signed token (see ``app.create_app``).
_TOKEN_PATH = re.compile(r"^(/(?:u|p|c|o|confirm)/)([^/?#]+)")
REDACTED = "[token]"


def redact(path: str) -> str:
    """``path`` (with its query) with the token of a token route replaced by ``[token]``."""
    match = _TOKEN_PATH.match(path)
    if match is None:
        return path
    prefix, token = match.groups()
    suffix = ".gif" if prefix == "/o/" and token.endswith(".gif") else ""  # which route it was stays readable
    return f"{prefix}{REDACTED}{suffix}{path[match.end():]}"


class RedactTokens(logging.Filter):
    """Replaces the path of an access-log record (uvicorn's arguments: client, method, path, version,
    status) by its ``redact``-ed form."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with ``RedactTokens`` on the access log's handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_tokens"] = {"()": f"{__name__}.RedactTokens"}
    config["handlers"]["access"].setdefault("filters", []).append("redact_tokens")
    return config
