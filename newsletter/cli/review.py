"""CLI commands for reviewing issues: ``new``, ``preview``, ``screenshot``."""

from __future__ import annotations

from pathlib import Path

import typer

from newsletter.cli import common


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("new")
    def new(
        title: str = typer.Argument(..., help="The issue's title, e.g. \"November news\"."),
        date: str | None = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="Issue date (default: today)."),
        issues_dir: Path = typer.Option(Path("issues"), "--dir", help="Folder for issue files."),
    ) -> None:
        """Write issues/<date>-<slug>.md with the team's frontmatter and a skeleton body."""
        from newsletter.review.new_issue import new_issue

        path = new_issue(title, date, issues_dir, site_url=common.command_settings().newsletter_site_url)
        typer.echo(f"Wrote {path}")

    @app.command("preview")
    def preview(
        issue: Path = typer.Argument(..., help="The issue's Markdown file."),
        port: int = typer.Option(8000, "--port", help="Port to serve on (0: any free port)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    ) -> None:
        """Serve a live preview of ISSUE that rebuilds when it or its layout changes."""
        from newsletter.review.preview import serve_preview

        def ready(url: str) -> None:
            typer.echo(f"Previewing {issue} at {url} (Ctrl+C to stop)")

        serve_preview(issue, common.command_settings(), host=host, port=port, open_browser=open_browser, on_ready=ready)

    @app.command("screenshot")
    def screenshot(
        issue: Path = typer.Argument(..., help="The issue's Markdown file."),
        out: Path = typer.Option(Path("screenshots"), "--out", help="Folder for the PNGs."),
    ) -> None:
        """Write PNGs of ISSUE at 375 and 600 px, light and dark, with headless Chromium."""
        from newsletter.review.screenshots import screenshot_issue

        with common.working("Taking screenshots in Chromium"):
            paths, warnings = screenshot_issue(issue, common.command_settings(), out)
        for path in paths:
            typer.echo(str(path))
        common.echo_findings(warnings)
