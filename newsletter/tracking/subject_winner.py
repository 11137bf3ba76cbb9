"""The numbers of a subject test: which variant won, and how sure that is.

Only human events count (``tracking.verdicts``): an open Apple's Mail Privacy
Protection fetched, or a scanner's click, says nothing about the subject.

``winner``: the variant with the most recipients who clicked (or opened),
as a share of the recipients that variant reached; a tie goes to the
earliest variant, so A (the issue's own subject) wins unless another does
better.

``confidence``: the probability that the winner's true rate is the highest,
with each variant's rate a Beta(1 + hits, 1 + misses) posterior (a uniform
prior updated with what was seen), estimated from ``DRAWS`` draws of every
variant's posterior with a fixed seed (the same counts give the same figure).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

#: Draws per variant for the confidence figure: its error is below half a percentage point.
DRAWS = 20_000
SEED = 24


def rate(counts: Mapping[str, int], rule: str) -> float:
    """Human clicks (or opens) per recipient reached (accepted), 0 when it reached nobody."""
    reached = counts.get("accepted", 0)
    return counts.get(rule, 0) / reached if reached else 0.0


def winner(results: Mapping[str, Mapping[str, int]], rule: str) -> str:
    """The variant with the best rate of human ``rule`` (clicks or opens); ties go to the earliest (A)."""
    variants = sorted(results)
    return max(variants, key=lambda v: (rate(results[v], rule), -variants.index(v)))


def confidence(results: Mapping[str, Mapping[str, int]], rule: str, best: str, *, draws: int = DRAWS) -> float:
    """The probability that ``best`` really has the highest rate (see the module doc), from 0 to 1."""
    rng = random.Random(SEED)
    params = {v: (1 + c.get(rule, 0), 1 + max(0, c.get("accepted", 0) - c.get(rule, 0))) for v, c in results.items()}
    variants = sorted(params)
    wins = 0
    for _ in range(draws):
        sample = {v: rng.betavariate(*params[v]) for v in variants}
        if max(variants, key=lambda v: (sample[v], -variants.index(v))) == best:
            wins += 1
    return wins / draws
