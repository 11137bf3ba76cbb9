"""The package as a user gets it: a built wheel that composes from any folder, and
declared dependencies that match what the code imports."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

#: Declared but never imported, each for a reason.
NOT_IMPORTED = {
    "linkify-it-py": "markdown-it-py's linkify option loads it",
    "lxml-stubs": "types for mypy (make lint)",
    "mypy": "a command, run by make lint",
    "pytest-timeout": "a pytest plugin, loaded by pytest",
    "ruff": "a command, run by make lint",
    "setuptools": "builds the wheel in test_packaging",
    "types-pyyaml": "types for mypy (make lint)",
    "tzdata": "zoneinfo reads it when the system has no time zone database",
}


def canonicalize_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The distribution a requirement string names ("jinja2>=3.1" -> "jinja2")."""
    return canonicalize_name(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group())


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources, installed into a fresh venv outside the repo.

    Its dependencies come from this test environment's site-packages (a .pth
    line), so nothing is downloaded; the package itself comes only from the wheel.
    """
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "newsletter", source / "newsletter", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
        "--wheel-dir", base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("newsletter-*.whl")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base).stdout.strip())
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "test-dependencies.pth").write_text(f"{deps}\n")  # a plain path: its .pth files (our editable install) stay unread
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=base)
    return venv


def test_the_wheel_composes_outside_the_repository(installed_wheel, tmp_path):
    bin_dir = installed_wheel / "bin"
    where = run(bin_dir / "python", "-c", "import newsletter; print(newsletter.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(installed_wheel)), where  # the wheel, not the checkout
    assert (Path(where.strip()).parent / "py.typed").is_file()  # a typed package (PEP 561)
    env = {"NEWSLETTER_ENV_FILE": os.devnull}
    run(bin_dir / "newsletter", "init", "team", cwd=tmp_path, env=env)
    team = tmp_path / "team"
    assert (team / ".env.example").read_text() == (ROOT / ".env.example").read_text()
    shutil.rmtree(team / "layouts")  # compose with the layouts shipped in the wheel
    (issue,) = (team / "issues").glob("*.md")
    composed = run(bin_dir / "newsletter", "compose", issue.relative_to(team), cwd=team, env=env)
    assert "Composed 'Our first issue'" in composed.stdout
    html = next((team / "build").glob("*/email.html")).read_text()
    assert html.lower().startswith(("<!doctype html>", "<html")) and "Our first issue" in html


def _imported_modules(folder: Path, local: set[str] = frozenset()) -> set[str]:
    """Top-level names of the third-party modules imported anywhere under ``folder``.

    ``local`` names the folder's own modules that are imported by name (test helpers).
    """
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local | {"newsletter"}}


def _distributions(modules: set[str]) -> set[str]:
    mapping = packages_distributions()
    missing = sorted(m for m in modules if m not in mapping)
    assert not missing, f"imported but not installed: {missing}"
    return {canonicalize_name(dist) for m in modules for dist in mapping[m]}


def _declared(*groups: str, base: bool = True) -> set[str]:
    """Distributions pyproject.toml declares: the dependencies (with ``base``) and the extras ``groups``."""
    requirements = list(PYPROJECT["dependencies"]) if base else []
    for group in groups:
        requirements += PYPROJECT["optional-dependencies"][group]
    return {requirement_name(r) for r in requirements}


def test_declared_dependencies_match_the_package_imports():
    imported = _distributions(_imported_modules(ROOT / "newsletter"))
    declared = _declared("screenshots", "postgresql")
    assert imported - declared == set(), "imported but not declared in pyproject.toml"
    assert declared - imported - set(NOT_IMPORTED) == set(), "declared but never imported"


def test_test_and_bench_imports_are_declared():
    helpers = {p.stem for p in (ROOT / "tests").rglob("*.py") if not p.stem.startswith("test_")}
    helpers |= {p.parent.name for p in (ROOT / "tests").rglob("__init__.py")}  # helper packages (tests/delivery/harness)
    benches = {p.stem for p in (ROOT / "bench").glob("*.py")}  # a bench may reuse another's parts, or a test helper
    imported = _distributions(_imported_modules(ROOT / "tests", helpers) | _imported_modules(ROOT / "bench", helpers | benches))
    declared = _declared("screenshots", "dev", "postgresql")
    assert imported - declared == set(), "imported by tests or bench but not declared"
    assert _declared("dev", base=False) - imported - set(NOT_IMPORTED) == set(), "dev dependency never imported"


def test_make_installs_from_the_constraints_file():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile and "\nlock:" in makefile
    pins = {
        canonicalize_name(line.split("==")[0]): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert _declared("screenshots", "dev", "postgresql") <= set(pins), "every declared dependency is pinned"
    assert all(v and v[0].isdigit() for v in pins.values())
