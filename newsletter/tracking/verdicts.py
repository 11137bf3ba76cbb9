"""Was an open or a click a person, a machine, or can we not tell? The rules, as data.

Every open and click gets a verdict (``human``, ``machine`` or ``unknown``)
and the reason for it, judged once when the event arrives; the raw IP address
and user agent are then dropped (see the README's privacy section). The rules
are tried in the order of ``RULES``; the first that applies decides:

1. ``canary``: the same recipient's copy fetched the link hidden in every
   HTML message (no person can see or click it), within ``CANARY_WINDOW_S``;
2. ``provider``: the provider flagged the event (SendGrid's ``sg_machine_open``);
3. ``apple-proxy``: the user agent is exactly ``Mozilla/5.0``, which Apple Mail
   Privacy Protection's proxy sends when it pre-loads every image (MailPoet's rule);
4. ``machine-agent``: a user agent of a security scanner, a library or a bot
   (``MACHINE_AGENTS``);
5. ``burst``: ``BURST_CLICKS`` or more clicks of one recipient's copy within
   ``BURST_S`` seconds (gateways such as Safe Links fetch every link at once);
6. ``soon-after-delivery``: within ``SOON_AFTER_DELIVERY_S`` seconds of delivery;
7. ``human-agent``: a browser's or mail client's user agent;
8. otherwise ``unknown`` (no user agent, or one we do not know).

A recipient's verdict is the best of their events' (human over unknown over
machine): a later human open or click upgrades one that a proxy opened first.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

HUMAN, MACHINE, UNKNOWN = "human", "machine", "unknown"
#: Order of preference when one recipient has several events (lower is better).
RANK = {HUMAN: 0, UNKNOWN: 1, MACHINE: 2}

#: The exact user agent of Apple Mail Privacy Protection's image proxy.
APPLE_PROXY_AGENTS = frozenset({"Mozilla/5.0"})
#: Clicks of one recipient's copy that count as a burst, and the window they must fall in.
BURST_CLICKS = 3
BURST_S = 2
#: A hit this soon after delivery is a machine (scanners fetch on arrival; nobody reads that fast).
SOON_AFTER_DELIVERY_S = 10
#: Hits of one recipient's copy this close to a fetch of its canary link are the same machine's.
CANARY_WINDOW_S = 60

#: Provider flags that mark a machine event: raw key -> reason.
PROVIDER_FLAGS = {
    "sg_machine_open": "SendGrid flagged a machine open (sg_machine_open)",
}

#: Lower-cased pieces of user agents that are machines, and what they are.
MACHINE_AGENTS: tuple[tuple[str, str], ...] = (
    ("barracuda", "Barracuda email security"),
    ("mimecast", "Mimecast link scanner"),
    ("proofpoint", "Proofpoint URL defense"),
    ("safelinks", "Microsoft Defender Safe Links"),
    ("symantec", "Symantec scanner"),
    ("trendmicro", "Trend Micro scanner"),
    ("forcepoint", "Forcepoint scanner"),
    ("headlesschrome", "a headless browser"),
    ("phantomjs", "a headless browser"),
    ("python-requests", "a script (python-requests)"),
    ("python-urllib", "a script (python-urllib)"),
    ("aiohttp", "a script (aiohttp)"),
    ("httpx", "a script (httpx)"),
    ("go-http-client", "a script (Go)"),
    ("curl/", "a script (curl)"),
    ("wget/", "a script (wget)"),
    ("java/", "a script (Java)"),
    ("okhttp", "a script (okhttp)"),
    ("libwww-perl", "a script (Perl)"),
    ("bot", "a bot"),
    ("crawler", "a crawler"),
    ("spider", "a crawler"),
    ("preview", "a link preview"),
)

#: Lower-cased pieces of user agents of people's mail clients and browsers. Gmail's and Yahoo's
#: image proxies fetch when the person opens the message, so they count as people.
HUMAN_AGENTS: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "Gmail image proxy (fetches when opened)"),
    ("yahoomailproxy", "Yahoo Mail image proxy (fetches when opened)"),
    ("microsoft outlook", "Outlook"),
    ("ms-office", "Outlook"),
    ("microsoft office", "Outlook"),
    ("thunderbird", "Thunderbird"),
    ("applewebkit", "a browser or mail app"),
    ("gecko/", "a browser"),
    ("trident/", "a browser"),
)
# A browser-like agent has a platform in brackets: "Mozilla/5.0 (Windows NT 10.0; ...)".
_BROWSER_SHAPE = re.compile(r"^Mozilla/5\.0 \([^)]+\)")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``verdict`` (human, machine or unknown) and the reason, as stored on the event."""

    verdict: str
    reason: str


@dataclass(frozen=True, slots=True)
class Hit:
    """What is known about one open or click when it is judged."""

    kind: str  # "open" or "click"
    user_agent: str = ""
    provider_flag: str = ""  # the reason of the first provider flag set, or ""
    near_canary: bool = False
    in_burst: bool = False
    seconds_after_delivery: float | None = None


def provider_flag(raw: dict[str, object]) -> str:
    """The reason of the first machine flag a provider set on its raw event, or ``""``."""
    for key, reason in PROVIDER_FLAGS.items():
        value = raw.get(key)
        if value is True or value == 1 or (isinstance(value, str) and value.strip().lower() in ("1", "true")):
            return reason
    return ""


@functools.lru_cache(maxsize=4096)  # a send's events repeat a few hundred agents
def agent_verdict(user_agent: str) -> Verdict | None:
    """The verdict a user agent alone gives (Apple's proxy, a scanner, a person's client), or None."""
    agent = user_agent.strip()
    if not agent:
        return None
    if agent in APPLE_PROXY_AGENTS:
        return Verdict(MACHINE, "Apple Mail Privacy Protection proxy (user agent exactly Mozilla/5.0)")
    lowered = agent.lower()
    for piece, what in MACHINE_AGENTS:
        if piece in lowered:
            return Verdict(MACHINE, f"user agent of {what}")
    for piece, what in HUMAN_AGENTS:
        if piece in lowered:
            return Verdict(HUMAN, f"user agent of {what}")
    if _BROWSER_SHAPE.match(agent):
        return Verdict(HUMAN, "user agent of a browser")
    return None


def judge(hit: Hit) -> Verdict:
    """The verdict on one open or click (see the module's rules, in order)."""
    if hit.near_canary:
        return Verdict(MACHINE, "the same copy fetched the hidden canary link")
    if hit.provider_flag:
        return Verdict(MACHINE, hit.provider_flag)
    by_agent = agent_verdict(hit.user_agent)
    if by_agent is not None and by_agent.verdict == MACHINE:
        return by_agent
    if hit.in_burst:
        return Verdict(MACHINE, f"{BURST_CLICKS}+ clicks within {BURST_S} s (a link scanner)")
    if hit.seconds_after_delivery is not None and 0 <= hit.seconds_after_delivery < SOON_AFTER_DELIVERY_S:
        return Verdict(MACHINE, f"within {SOON_AFTER_DELIVERY_S} s of delivery")
    if by_agent is not None:
        return by_agent
    return Verdict(UNKNOWN, "no user agent" if not hit.user_agent.strip() else "user agent not recognised")


BURST_REASON = judge(Hit("click", in_burst=True)).reason
CANARY_REASON = judge(Hit("click", near_canary=True)).reason


def bursts(times: Sequence[float]) -> set[int]:
    """Indexes of ``times`` (seconds, one recipient's clicks) that belong to a burst:
    ``BURST_CLICKS`` or more within ``BURST_S`` seconds of each other."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    found: set[int] = set()
    start = 0
    for end in range(len(order)):
        while times[order[end]] - times[order[start]] > BURST_S:
            start += 1
        if end - start + 1 >= BURST_CLICKS:
            found.update(order[start : end + 1])
    return found
