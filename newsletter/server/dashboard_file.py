"""``newsletter stats ISSUE --html FILE``: the dashboard's send pages of one issue as one HTML file,
written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from newsletter.errors import InputError
from newsletter.settings import Settings


def write_report(settings: Settings, target: str, path: str | Path) -> int:
    """Write the send pages of issue ``target`` (ISSUE.md or slug) to ``path``; return how many sends it shows.

    ``InputError`` if the folder is missing or no send of the issue exists; an existing file is
    replaced only once the new one is complete.
    """
    from newsletter.server.dashboard_pages import report_file
    from newsletter.tracking.report import collect_reports

    path = Path(path)
    if not path.parent.is_dir():
        raise InputError("folder does not exist", subject=str(path.parent))
    reports = collect_reports(settings, target)
    text = report_file(reports, brand=settings.newsletter_brand)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; a report is an ordinary file
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(reports)
