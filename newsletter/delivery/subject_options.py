"""A subject test as the user asks for it: ``send --subject-b ... [--subject-c ...] --test 20% --wait 4h
--pick clicks|opens|manual``, checked before anything is written.

``parse_test`` turns the options into a ``store.subject_tests.SubjectTest`` (one
clear ``InputError`` for each bad value); ``check_subjects`` holds each
variant's subject to the checks the issue's own subject gets (a control
character refuses the send, a long one warns); ``split`` says how many
members the test groups get and how many wait for the pick.
"""

from __future__ import annotations

from newsletter.durations import parse_duration
from newsletter.errors import InputError
from newsletter.store.subject_tests import PICKS, SubjectTest

#: The longest wait before a pick: the rest of the audience should not get an issue weeks late.
MAX_WAIT_S = 14 * 86400


def parse_share(text: str) -> int:
    """``'20%'`` (or ``'20'``) as a whole percent from 1 to 100."""
    bare = text.strip().removesuffix("%").strip()
    if not bare.isdigit() or not 1 <= int(bare) <= 100:
        raise InputError(f"must be a whole percent from 1% to 100% of the audience, got {text!r}", subject="--test")
    return int(bare)


def parse_wait(text: str) -> int:
    """``'4h'``, ``'90m'``, ``'1d'``, ``'30s'`` in seconds (at most two weeks)."""
    seconds = int(parse_duration(text, "--wait").total_seconds())
    if not 0 < seconds <= MAX_WAIT_S:
        raise InputError(f"must be more than 0 and at most 14d, got {text!r}", subject="--wait")
    return seconds


def parse_test(subjects: tuple[str | None, ...], share: str | None, wait: str | None,
              pick: str | None) -> SubjectTest | None:
    """The subject test the options ask for (``None`` when none of them is given).

    ``subjects`` are ``--subject-b`` and ``--subject-c`` (C only with B).
    ``--wait`` defaults to 4h and ``--pick`` to clicks; ``--test`` is required.
    """
    b, c = (subjects + (None, None))[:2]
    if b is None and c is None and share is None and wait is None and pick is None:
        return None
    if b is None:
        what = "--subject-c" if c is not None else "--test" if share is not None else "--wait" if wait else "--pick"
        raise InputError("a subject test needs --subject-b \"...\" (the issue's own subject is variant A)", subject=what)
    if share is None:
        raise InputError("a subject test needs the share of the audience it is sent to, such as --test 20%",
                         subject="--subject-b")
    rule = (pick or "clicks").strip().lower()
    if rule not in PICKS:
        raise InputError(f"must be one of {', '.join(PICKS)}, got {pick!r}", subject="--pick")
    for name, subject in (("--subject-b", b), ("--subject-c", c)):
        if subject is not None and not subject.strip():
            raise InputError("is empty", subject=name)
    extra = tuple(s for s in (b, c) if s is not None)
    return SubjectTest(extra, parse_share(share), parse_wait(wait or "4h"), rule)


def check_subjects(spec: SubjectTest, subject_a: str) -> list[str]:
    """Warnings about the variants' subjects; ``InputError`` for one that no mail header may hold, or one
    equal to another variant's."""
    from newsletter.compose.checks import check_subject
    from newsletter.compose.model import ERROR

    warnings = []
    seen = {subject_a.strip(): "A"}
    for variant, subject in zip(("B", "C"), spec.subjects, strict=False):
        name = f"--subject-{variant.lower()}"
        for finding in check_subject(subject, name):
            if finding.severity == ERROR:
                raise InputError(finding.message, subject=name)
            warnings.append(f"{name}: {finding.message}")
        if subject.strip() in seen:
            raise InputError(f"is the same subject as variant {seen[subject.strip()]}", subject=name)
        seen[subject.strip()] = variant
    return warnings


def split(members: int, spec: SubjectTest) -> tuple[int, int]:
    """``(in the test groups, held for the pick)`` of an audience of ``members`` (as the draw deals them out:
    ``share`` percent, rounded down, but at least one per variant)."""
    tested = min(members, max(members * spec.share // 100, len(spec.variants)))
    return tested, members - tested
