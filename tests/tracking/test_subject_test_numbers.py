"""The pick's numbers: the winner by rate of human events (ties to A) and the Beta-posterior confidence."""

from __future__ import annotations

import pytest

from newsletter.tracking.subject_winner import confidence, winner


def _r(accepted: int, clicks: int) -> dict[str, int]:
    return {"accepted": accepted, "clicks": clicks, "opens": clicks}


def test_the_best_rate_wins_and_a_tie_goes_to_a():
    assert winner({"A": _r(100, 5), "B": _r(100, 9)}, "clicks") == "B"
    assert winner({"A": _r(100, 5), "B": _r(100, 5), "C": _r(100, 5)}, "clicks") == "A"
    assert winner({"A": _r(0, 0), "B": _r(0, 0)}, "opens") == "A"  # nobody reached: A
    assert winner({"A": _r(100, 10), "B": _r(50, 6)}, "clicks") == "B"  # 12% beats 10% although fewer clicks


def test_confidence_is_the_chance_the_winner_is_best():
    even = confidence({"A": _r(1000, 50), "B": _r(1000, 50)}, "clicks", "A")
    assert even == pytest.approx(0.5, abs=0.02)
    clear = confidence({"A": _r(1000, 20), "B": _r(1000, 80)}, "clicks", "B")
    assert clear > 0.999
    three = {v: confidence({"A": _r(200, 10), "B": _r(200, 14), "C": _r(200, 12)}, "clicks", v) for v in "ABC"}
    assert sum(three.values()) == pytest.approx(1.0, abs=1e-9) and max(three, key=three.get) == "B"
    # B: 14/200 vs A: 10/200. By the normal approximation of the difference of two Beta posteriors,
    # P(B > A) = Phi(0.02 / sqrt(p_a(1-p_a)/200 + p_b(1-p_b)/200)) is about 0.78.
    pairwise = confidence({"A": _r(200, 10), "B": _r(200, 14)}, "clicks", "B")
    assert pairwise == pytest.approx(0.78, abs=0.04)
    assert confidence({"A": _r(200, 10), "B": _r(200, 14)}, "clicks", "B") == pairwise  # fixed seed: the same figure
