"""tinyrec.exercises.ndcg: check_ndcg (Exercise 0) passes a correct function and names each known mistake."""

import math

import pytest
import torch

from tinyrec.exercises import ndcg as exercise
from tinyrec.exercises.ndcg import check_ndcg


def ndcg_correct(ranked_items, relevant_items):
    relevant = set(relevant_items)
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked_items[:10]) if item in relevant)
    return dcg / sum(1 / math.log2(rank + 2) for rank in range(min(10, len(relevant))))


def ndcg_buggy(ideal=None, offset=2, cut=10, unique=True, as_tensor=False):
    """ndcg_correct with one mistake; ``ideal(ranked, relevant)`` counts the IDCG positions."""
    def ndcg(ranked_items, relevant_items):
        relevant = set(relevant_items) if unique else relevant_items
        n_ideal = ideal(ranked_items, relevant_items) if ideal else min(10, len(relevant))
        dcg = sum(1 / math.log2(rank + offset) for rank, item in enumerate(ranked_items[:cut])
                  if item in relevant)
        value = dcg / sum(1 / math.log2(rank + offset) for rank in range(n_ideal))
        return torch.tensor(value) if as_tensor else value
    return ndcg


def test_check_ndcg_passes_a_correct_function(capsys):
    check_ndcg(ndcg_correct)
    assert "Correct! ndcg_correct agrees with tinyrec.metrics.ndcg_at_k" in capsys.readouterr().out


def test_check_ndcg_cases_match_hand_computed_values():
    by_hand = [(1 / math.log2(3) + 1 / math.log2(7)) / (1 + 1 / math.log2(3)), 1.0, 1 / math.log2(3),
               0.5 / (1 + 1 / math.log2(3) + 0.5), 0.0, 1.0,
               (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))]
    assert [exercise._reference_ndcg(ranked, relevant) for _, ranked, relevant, _ in exercise.NDCG_CASES] \
        == pytest.approx(by_hand)
    assert by_hand[0] == pytest.approx(0.605, abs=5e-4)  # the worked example in the notebook's text


@pytest.mark.parametrize("fn, message", [
    (ndcg_buggy(ideal=lambda ranked, relevant: 10), "IDCG summed over all K = 10 positions"),
    (ndcg_buggy(ideal=lambda ranked, relevant: len(set(relevant))), "IDCG summed over all relevant items"),
    (ndcg_buggy(ideal=lambda ranked, relevant: min(10, len(set(ranked[:10]) & set(relevant)))),
     "IDCG computed from the relevant items you retrieved"),
    (ndcg_buggy(offset=1), "divided by zero.\nThe discount at rank r is 1/log2(r + 1)"),
    (ndcg_buggy(offset=3), "Discount off by one"),
    (ndcg_buggy(cut=None), "Items below rank 10 counted"),
    (ndcg_buggy(unique=False), "Repeated items counted twice"),
    (ndcg_buggy(as_tensor=True), "it returned a torch.Tensor, not a number"),
    (lambda ranked, relevant: float("inf"), "the result of a division by zero"),
    (lambda ranked, relevant: 0.5, "Case 'the worked example in the text': <lambda>([4, 8, 15"),
    (lambda ranked, relevant: "0.5", "it returned '0.5' (str): return a Python float"),
])
def test_check_ndcg_names_the_mistake(fn, message):
    with pytest.raises(AssertionError, match="^Case '") as error:
        check_ndcg(fn)
    assert message in str(error.value)
    assert "\nHint: " in str(error.value)


def test_check_ndcg_lets_the_exercise_stub_raise():
    def stub(ranked_items, relevant_items):
        raise NotImplementedError("Exercise: write your solution here")
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_ndcg(stub)
