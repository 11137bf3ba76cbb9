"""Benchmark ``newsletter compose``: whole-process wall time and per-stage times.

Usage: python bench/compose.py [ISSUE.md] [--runs N]

Prints the median (and min/max) wall time of N whole-process runs of
``newsletter compose`` (start-up and imports included) and of
``newsletter --help``, the peak memory (max RSS) of a compose run, then the
median time of each pipeline stage measured in-process after a warm-up run.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issue", nargs="?", default=str(ROOT / "issues" / "2026-11-example.md"))
    parser.add_argument("--runs", type=int, default=11)
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


if __name__ == "__main__":
    main()
