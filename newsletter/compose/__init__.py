"""Compose: a Markdown issue becomes email HTML, a plain-text twin and metadata.

The pipeline is a chain of stages (see ``pipeline.py``); each returns its
result plus findings and never prints or exits. Public entry points:

- ``compose_issue(path, settings) -> ComposeResult``
- ``write_output(result, out_dir) -> Path`` (``<out>/<slug>/email.html``, ``email.txt``, ``meta.json``)
"""

from newsletter.compose.model import ComposeResult, Finding, Issue, Link
from newsletter.compose.pipeline import compose_issue, meta_dict, write_output

__all__ = ["ComposeResult", "Finding", "Issue", "Link", "compose_issue", "meta_dict", "write_output"]
