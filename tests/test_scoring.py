"""ITS at the closed-form points of DESIGN §1.3, its monotonicity, and the labels."""

from __future__ import annotations

import numpy as np
import pytest

from bitsift.core import scoring


@pytest.mark.parametrize("h, want", [(0.2, 0.81), (0.3, 0.56), (0.4, 0.29), (0.45, 0.14), (0.5, 0.0), (0.7, 0.0)])
def test_closed_form_points(h, want):
    dims = 1000
    got = scoring.its(np.array([h * dims]), dims // 2, dims // 2, dims)[0]
    assert got == pytest.approx(want, abs=0.006)
    assert scoring.its_balanced(np.array([h]))[0] == pytest.approx(got, abs=1e-12)


def test_identical_codes_score_one():
    assert scoring.its(np.array([0]), 192, 192, 384)[0] == pytest.approx(1.0)


def test_monotone_non_increasing_for_balanced_codes():
    dims = 384
    h = np.arange(dims + 1)
    s = scoring.its(h, dims // 2, dims // 2, dims)
    assert (np.diff(s) <= 1e-12).all()
    assert s[0] == 1.0 and s[-1] == 0.0 and ((s >= 0) & (s <= 1)).all()


def test_general_table_matches_formula_by_hand():
    # q has 3 of 8 bits, d has 5, they share 2: a=2/8, b=1/8, c=3/8, d'=2/8
    a, b, c, d = 2 / 8, 1 / 8, 3 / 8, 2 / 8
    p1_, p0_, p_1, p_0 = a + b, c + d, a + c, b + d
    cplus = a * np.log(a / (p1_ * p_1)) + d * np.log(d / (p0_ * p_0))
    cminus = b * np.log(b / (p1_ * p_0)) + c * np.log(c / (p0_ * p_1))
    hd = -p_1 * np.log(p_1) - p_0 * np.log(p_0)
    want = np.clip((cplus - cminus) / hd, 0, 1)
    hamming = 3 + 5 - 2 * 2
    assert scoring.its(np.array([hamming]), 3, 5, 8)[0] == pytest.approx(want)


def test_constant_document_scores_zero():
    assert scoring.its(np.array([4]), 4, 0, 8)[0] == 0.0


@pytest.mark.parametrize(
    "score, name",
    [(1.0, "Close Match"), (0.894, "Close Match"), (0.8, "Very High Relevance"), (0.5, "High Relevance"),
     (0.32, "Good Relevance"), (0.25, "Low Relevance"), (0.1, "Very Low Relevance"), (0.05, "Irrelevant"),
     (0.0, "Irrelevant")],
)
def test_labels(score, name):
    assert scoring.label(score) == name


def test_label_cut_points_are_square_roots():
    bounds = [b for b, _ in scoring.LABELS[:-1]]
    assert bounds == pytest.approx(np.sqrt([0.8, 0.4, 0.2, 0.1, 0.05, 0.01]), abs=1e-3)


def test_labels_of_many_scores_equal_label_of_each():
    from bitsift.core.scoring import LABELS, label, labels

    edges = [b for b, _ in LABELS[:-1]]
    scores = np.array([0.0, 1.0, *edges, *(np.nextafter(e, -1) for e in edges), *np.linspace(0, 1, 101)])
    assert labels(scores) == [label(float(s)) for s in scores]
    assert labels(np.zeros(0)) == []
