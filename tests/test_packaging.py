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
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PYPROJECT_VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "newsletter" / "__init__.py").read_text()).group(1)

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
    """Run a command; it must succeed."""
    result = subprocess.run([str(a) for a in args], cwd=cwd, env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


#: The README's placeholder for a team's copy of this repository.
REPO_URL = "https://git.example.org/you/newsletter"


def readme_block(starting: str) -> str:
    """The README's ``sh`` code block whose first line starts with ``starting``."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.MULTILINE | re.DOTALL)
    (block,) = [b for b in blocks if b.startswith(starting)]
    return block


def source_repository(base: Path) -> Path:
    """A git repository of the files the wheel is built from, as a team's copy of this one."""
    source = base / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "newsletter", source / "newsletter", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "layouts", source / "layouts", ignore=ignore)
    for name in ("pyproject.toml", "README.md", ".env.example"):
        shutil.copy(ROOT / name, source / name)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "source"]):
        run("git", *args, cwd=source, env=GIT_IDENTITY)
    return source


GIT_IDENTITY = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
                "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org"}


def dependencies(base: Path) -> Path:
    """This test environment's site-packages without the tool itself (its editable install's metadata)."""
    folder = base / "test-dependencies"
    if not folder.is_dir():
        folder.mkdir()
        site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
        for entry in site.iterdir():
            if not entry.name.startswith(("markdown_newsletter", "__editable__", "newsletter")):
                (folder / entry.name).symlink_to(entry)
    return folder


def fresh_venv(path: Path) -> Path:
    """A new venv (with pip) whose dependencies come from this test environment's site-packages.

    A plain path in a .pth file, so pip sees them as installed and nothing is downloaded;
    the package itself is not there.
    """
    run(sys.executable, "-m", "venv", path, cwd=path.parent)
    python = path / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=path).stdout.strip())
    (site / "test-dependencies.pth").write_text(f"{dependencies(path.parent)}\n")
    if (site / "setuptools").is_dir():  # Python 3.11's venv brings an old one; builds use ours (>= 77)
        run(python, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools", cwd=path)
    return path


#: Offline: no index, and the build uses the setuptools already installed (PIP_NO_BUILD_ISOLATION=0 means
#: --no-build-isolation: pip reads the "no" options this way round).
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "NEWSLETTER_ENV_FILE": os.devnull}


@pytest.fixture(scope="module")
def readme_install(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The README's wheel install lines run as written, in a fresh venv, outside the repository.

    The clone comes from a local git copy of the sources instead of the README's placeholder
    URL. Returns the venv, the folder the lines ran in, and the run.
    """
    base = tmp_path_factory.mktemp("wheel")
    source = source_repository(base)
    venv = fresh_venv(base / "venv")
    lines = readme_block("git clone ").replace(REPO_URL, str(source))
    work = base / "work"
    work.mkdir()
    env = {**OFFLINE, **GIT_IDENTITY, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "VIRTUAL_ENV": str(venv)}
    result = run("bash", "-e", "-c", lines, cwd=work, env=env)
    return venv, work, result


@pytest.fixture(scope="module")
def installed_wheel(readme_install) -> Path:
    """The venv the README's lines installed the wheel into."""
    return readme_install[0]


def test_the_readme_install_lines_work_against_a_built_wheel(readme_install):
    venv, work, result = readme_install
    (wheel,) = (work / "dist").glob("*.whl")
    assert wheel.name == f"markdown_newsletter-{PYPROJECT_VERSION}-py3-none-any.whl"
    assert (venv / "bin" / "newsletter").is_file()
    team = work / "our-newsletter"
    assert run("git", "log", "--format=%s", cwd=team).stdout.strip() == "Start our newsletter"
    requirements = (team / "requirements.txt").read_text()
    assert requirements.splitlines()[-1] == f"markdown-newsletter[screenshots]=={PYPROJECT_VERSION}"
    # Installed from a wheel on this machine: CI cannot get it from there, and init says so.
    assert "requirements.txt: markdown-newsletter was installed here from a wheel found by name" in result.stderr
    assert "# replace the line below with your team's git URL" in requirements


def test_the_readme_git_install_line_works(tmp_path):
    """The README's git-URL line, with a local repository for the placeholder URL (pip clones and builds it)."""
    source = source_repository(tmp_path)
    venv = fresh_venv(tmp_path / "venv")
    # file://localhost/...: the older pip a fresh venv brings wants a host in a git+ URL
    line = readme_block("pip install 'markdown-newsletter").replace(REPO_URL, f"file://localhost{source}")
    env = {**OFFLINE, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    run("bash", "-e", "-c", line + "newsletter init team\n", cwd=tmp_path, env=env)
    head = run("git", "rev-parse", "HEAD", cwd=source).stdout.strip()
    python = venv / "bin" / "python"
    recorded = run(python, "-c", "from importlib.metadata import distribution as d; "
                   "print(d('markdown-newsletter').read_text('direct_url.json'))", cwd=tmp_path).stdout
    assert f'"commit_id": "{head}"' in recorded  # pip recorded the commit: from a real git host init pins it
    # This one is a folder on this machine, which CI cannot reach: pinned by version, with the note.
    requirements = (tmp_path / "team" / "requirements.txt").read_text()
    assert requirements.splitlines()[-1] == f"markdown-newsletter[screenshots]=={PYPROJECT_VERSION}"


def test_the_generated_requirements_install_the_tool(readme_install, tmp_path):
    """CI's install step (`pip install -r requirements.txt`), with the wheel where an index would serve it."""
    _, work, _ = readme_install
    venv = fresh_venv(tmp_path / "ci")
    steps = yaml.safe_load((work / "our-newsletter/.github/workflows/check-issues.yml").read_text())
    (job,) = steps["jobs"].values()
    (install,) = [step for step in job["steps"] if step.get("name", "").startswith("Install")]
    pip_line = next(line for line in install["run"].splitlines() if line.strip().startswith("pip install"))
    env = {**OFFLINE, "PIP_FIND_LINKS": str(work / "dist"), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    run("bash", "-e", "-c", pip_line, cwd=work / "our-newsletter", env=env)
    version = run(venv / "bin" / "newsletter", "--version", cwd=tmp_path).stdout
    assert PYPROJECT_VERSION in version


def test_the_wheel_ships_the_layouts_kept_at_the_top_of_the_repository(installed_wheel):
    assert (ROOT / "newsletter" / "layouts").resolve() == ROOT / "layouts"  # one source: a link to it
    python = installed_wheel / "bin" / "python"
    shipped = Path(run(python, "-c", "import newsletter, pathlib; print(pathlib.Path(newsletter.__file__).parent / 'layouts')",
                       cwd=installed_wheel).stdout.strip())
    assert not shipped.is_symlink() and str(shipped).startswith(str(installed_wheel))
    ours = {p.relative_to(ROOT / "layouts"): p.read_bytes() for p in (ROOT / "layouts").rglob("*") if p.is_file()}
    theirs = {p.relative_to(shipped): p.read_bytes() for p in shipped.rglob("*") if p.is_file()}
    assert ours == theirs and Path("default/email.mjml.j2") in ours and Path("README.md") in ours


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
