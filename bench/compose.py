"""Benchmark ``newsletter compose``: whole-process wall time and per-stage times.

Usage: python bench/compose.py [ISSUE.md] [--runs N] [--mjml PATH]

Prints the median (and min/max) wall time of N whole-process runs of
``newsletter compose`` (start-up and imports included) and of
``newsletter --help``, the peak memory (max RSS) of a compose run, then the
median time of each pipeline stage measured in-process after a warm-up run.

Then, when ``node`` and the MJML 4 command line are installed, it compares the
whole of ``newsletter compose`` with the Node MJML CLI rendering the very MJML
that compose produced for the issue (one step of a Node pipeline), the two run
in turn, pair by pair, and prints the median ratio. The MJML CLI is looked for
at ``--mjml``, then ``bench/.node/node_modules/.bin/mjml`` (install it with
``npm install --prefix bench/.node mjml@4``; git ignores that folder), then on
the PATH. Without it the comparison is skipped, and the bench says so.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "newsletter"]


def timed_runs(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall times of ``runs`` whole-process runs of ``args``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return times


def describe(label: str, times: list[float]) -> str:
    return f"{label:<28} median {statistics.median(times) * 1000:7.1f} ms  (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, n={len(times)})"


def find_mjml(explicit: str | None) -> str | None:
    """The Node MJML command line to compare with, or None if it (or node) is not installed."""
    if shutil.which("node") is None:
        return None
    for candidate in (explicit, str(ROOT / "bench" / ".node" / "node_modules" / ".bin" / "mjml"), shutil.which("mjml")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def mjml_of(issue: str, config) -> str:
    """The MJML that compose hands to its MJML compiler for ``issue`` (captured in-process)."""
    from newsletter.compose import adapters, compose_issue

    captured: list[str] = []
    original = adapters.mjml_to_html

    def capture(source: str, **options):
        captured.append(source)
        return original(source, **options)

    adapters.mjml_to_html = capture
    try:
        compose_issue(issue, config)
    finally:
        adapters.mjml_to_html = original
    return captured[0]


def compare_with_node(compose: list[str], mjml_cli: str, mjml_source: str, runs: int, env: dict[str, str]) -> None:
    """Time compose and the Node MJML CLI in turn (A B A B ...) and print medians and the ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "issue.mjml"
        source.write_text(mjml_source, encoding="utf-8")
        node = [mjml_cli, str(source), "-o", str(Path(tmp) / "issue.html")]
        timed_runs(node, 1, env)  # warm-up
        ours, theirs = [], []
        for _ in range(runs):
            ours += timed_runs(compose, 1, env)
            theirs += timed_runs(node, 1, env)
    version = subprocess.run([mjml_cli, "--version"], capture_output=True, text=True, env=env).stdout.split()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(f"side by side with the Node MJML CLI ({' '.join(version)}), same MJML, {runs} pairs:")
    print(describe("  newsletter compose (all)", ours))
    print(describe("  node mjml (MJML step only)", theirs))
    print(f"  ratio compose / node mjml: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issue", nargs="?", default=str(ROOT / "issues" / "2026-11-example.md"))
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--mjml", help="path of the Node MJML 4 command line (mjml)")
    args = parser.parse_args()
    env = {**os.environ, "NEWSLETTER_ENV_FILE": os.devnull}
    with tempfile.TemporaryDirectory() as out:
        compose = CLI + ["compose", args.issue, "--out", out]
        timed_runs(compose, 1, env)  # warm the file cache and .pyc files
        print(f"issue: {args.issue}")
        print(describe("newsletter --help", timed_runs(CLI + ["--help"], args.runs, env)))
        print(describe("newsletter compose", timed_runs(compose, args.runs, env)))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run(compose, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"{'compose peak memory':<28} {max(peak, before) / 1024:7.1f} MB (max RSS of the child processes)")

    sys.path.insert(0, str(ROOT))
    from newsletter.compose import compose_issue
    from newsletter.settings import load_settings

    config = load_settings({}, env_file=os.devnull)
    compose_issue(args.issue, config)  # warm-up: imports and caches
    stages: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for stage, seconds in compose_issue(args.issue, config).timings.items():
            stages.setdefault(stage, []).append(seconds)
    print("in-process stage medians (imports already done):")
    for stage, times in stages.items():
        print(f"  {stage:<10} {statistics.median(times) * 1000:7.1f} ms")

    mjml_cli = find_mjml(args.mjml)
    if mjml_cli is None:
        print("comparison with the Node MJML CLI skipped: node and mjml are not installed"
              " (npm install --prefix bench/.node mjml@4)")
        return
    with tempfile.TemporaryDirectory() as out:
        compare_with_node(CLI + ["compose", args.issue, "--out", out], mjml_cli, mjml_of(args.issue, config), args.runs, env)


if __name__ == "__main__":
    main()
