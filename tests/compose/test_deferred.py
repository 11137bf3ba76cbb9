"""Start-up of compose: modules the renderers import but compose never uses stay unloaded,
and load in full the moment anything does use them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from newsletter.compose.deferred import UNUSED_ON_COMPOSE

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (imports are per process) and return its stdout."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, "NEWSLETTER_ENV_FILE": os.devnull}, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_compose_loads_none_of_the_unused_modules():
    out = run_python("""
        import sys
        from newsletter.compose import compose_issue
        from newsletter.settings import load_settings
        result = compose_issue("issues/2026-11-example.md", load_settings({}))
        assert result.html and not result.errors, result.errors
        # A module's submodules appear once its code has run (requests.api, soupsieve.css_parser, ...).
        loaded = sorted({name.partition(".")[0] for name in sys.modules if "." in name
                         and name.startswith(("requests.", "soupsieve.", "chardet."))})
        print(loaded, "http.client" in sys.modules, "ssl" in sys.modules, "importlib.metadata._adapters" in sys.modules)
    """)
    assert out.split() == ["[]", "False", "False", "False"], out


def test_a_deferred_module_loads_in_full_when_used():
    out = run_python("""
        import sys
        from newsletter.compose.deferred import defer_unused_imports
        defer_unused_imports()
        defer_unused_imports()  # idempotent
        import requests, soupsieve, urllib.request
        import urllib
        print(urllib.request is sys.modules["urllib.request"], "http.client" in sys.modules)
        from urllib.request import Request
        print(Request("https://example.org/x").host, "http.client" in sys.modules)
        print(soupsieve.compile("p > a").pattern, requests.codes.ok, "requests.api" in sys.modules)
        from importlib.metadata import version
        print(version("markdown-newsletter") == __import__("newsletter").__version__)
    """)
    assert out.splitlines() == ["True False", "example.org True", "p > a 200 True", "True"], out


def test_only_installed_modules_are_deferred():
    out = run_python("""
        import sys
        from newsletter.compose.deferred import defer_unused_imports
        defer_unused_imports(("no_such_module_here",))
        print("no_such_module_here" in sys.modules)
        try:
            import no_such_module_here
        except ImportError:
            print("ImportError")
    """)
    assert out.split() == ["False", "ImportError"]
    assert set(UNUSED_ON_COMPOSE) == {"requests", "soupsieve", "chardet", "urllib.request", "importlib.metadata"}
