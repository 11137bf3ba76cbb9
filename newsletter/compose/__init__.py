"""Compose: a Markdown issue becomes email HTML, a plain-text twin and metadata.

The pipeline is a chain of stages (see ``pipeline.py``); each returns its
result plus findings and never prints or exits. Public entry points:

- ``compose_issue(path, settings) -> ComposeResult``
- ``compose_checked(path, settings)``: the same, refusing what must not be sent (``InputError``)
- ``write_output(result, out_dir) -> Path`` (``<out>/<slug>/email.html``, ``email.txt``, ``meta.json``)
"""

from newsletter.compose.model import ComposeResult, Finding, Issue, Link
from newsletter.compose.pipeline import compose_checked, compose_issue, meta_dict, write_output

__all__ = ["ComposeResult", "Finding", "Issue", "Link", "compose_checked", "compose_issue", "meta_dict", "write_output"]
