"""Review: see an issue as a subscriber will before it goes out.

- ``scaffold.new_issue`` writes a new issue file from the team's skeleton;
- ``preview.create_preview_app`` / ``preview.serve_preview``: a local page that
  rebuilds the issue whenever it or its layout changes on disk;
- ``screenshots.capture``: PNGs at phone and desktop widths, light and dark,
  taken with the system's headless Chromium.

Nothing heavy is imported here, so the CLI can import this package cheaply.
"""
