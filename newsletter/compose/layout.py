"""Stage 4: the Jinja2 layout around the body (MJML for HTML, plain text for the twin).

A layout is a folder ``layouts/<name>/`` holding ``email.mjml.j2`` and
``email.txt.j2``. Folders are looked up in ``NEWSLETTER_LAYOUTS`` (default
``./layouts``) first, then in the layouts shipped inside the package
(``newsletter/layouts/``, found with ``importlib.resources`` so an installed
wheel composes as well as a checkout does; in the repository that is a link
to the top-level ``layouts/``, where the built-in layout's source lives). Templates are autoescaped
(except the text one) and undefined variables are errors, so a typo in a
layout fails loudly instead of sending an email with a hole in it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import InputError, LayoutError

if TYPE_CHECKING:
    from markupsafe import Markup

HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
#: The layouts shipped as package data. pip installs packages as plain files,
#: so the resource is a real folder that Jinja2's FileSystemLoader can read.
BUILTIN_LAYOUTS = Path(str(files("newsletter").joinpath("layouts")))


def find_layout(name: str, layouts_dir: str | Path) -> Path:
    """The folder of layout ``name``; ``InputError`` if it does not exist."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"invalid layout name {name!r}", subject="layout")
    for base in (Path(layouts_dir), BUILTIN_LAYOUTS):
        folder = base / name
        if (folder / HTML_TEMPLATE).is_file():
            return folder
    raise InputError(
        f"layout {name!r} not found (looked in {Path(layouts_dir)}/ and the built-in layouts)", subject="layout"
    )


def layout_digest(folder: Path) -> str:
    """SHA-256 over the layout's files (names and bytes), leaving out the signup confirmation templates."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("confirm.")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def render_layout(folder: Path, template: str, context: dict[str, Any]) -> str:
    """Render ``template`` of the layout in ``folder`` with ``context``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=lambda name: not (name or "").endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["wrap"] = _wrap_filter
    path = folder / template
    try:
        return env.get_template(template).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise LayoutError(f"template syntax error: {exc.message}", subject=f"{path}:{exc.lineno}") from None
    except jinja2.TemplateNotFound as exc:
        raise LayoutError(f"template not found: {exc.name}", subject=str(path)) from None
    except jinja2.UndefinedError as exc:
        raise LayoutError(f"template error: {exc.message}", subject=str(path)) from None
    except jinja2.TemplateError as exc:
        raise LayoutError(f"template error: {exc}", subject=str(path)) from None


def _wrap_filter(text: str, width: int = 76) -> str:
    """Jinja filter ``wrap``: like ``wordwrap`` but by display width (CJK counts two)."""
    from newsletter.compose.wrapping import wrap

    return "\n".join(wrap(str(text), width))


def markup(value: str) -> Markup:
    """Mark already-safe HTML (the rendered, sanitized Markdown) for the autoescaping layout."""
    from markupsafe import Markup

    return Markup(value)
