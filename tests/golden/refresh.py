"""Refresh the golden files from the example issue: ``make golden``.

Run it after an intended change to the pipeline or the default layout, then
review the diff (``git diff tests/golden``) before committing: the diff *is*
the change subscribers will see.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.compose import compose_issue, write_output  # noqa: E402
from newsletter.settings import load_settings  # noqa: E402

EXAMPLE = ROOT / "issues" / "2026-11-example.md"


def golden_settings():
    """Default settings only: golden output must not depend on anyone's environment."""
    return load_settings({}, env_file=os.devnull)


def main() -> None:
    """Compose the example issue into tests/golden/<slug>/."""
    folder = write_output(compose_issue(EXAMPLE, golden_settings()), HERE)
    print(f"refreshed {folder.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
