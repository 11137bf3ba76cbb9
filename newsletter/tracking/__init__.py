"""Tracking: per-recipient link rewriting, provider and tracking events, stats.

- ``instrument.TrackingRewriter`` adds the open pixel and click links to a send's HTML;
- ``events`` normalises SendGrid events and stores them (de-duplicated);
- ``stats`` adds the events of a send up into the figures ``newsletter stats`` shows.
"""
