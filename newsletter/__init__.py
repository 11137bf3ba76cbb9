"""newsletter: write, review and send an email newsletter from Markdown."""

__version__ = "0.1.0"
