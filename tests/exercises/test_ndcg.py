"""tinyrec.exercises.ndcg: check_ndcg (Exercise 0) passes a correct function and names each known mistake."""

import math

import pytest
import torch

from tinyrec.exercises import ndcg as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.ndcg import check_ndcg

from . import assert_names, fails_with, stub


def ndcg_correct(ranked_items, relevant_items, seen_items):
    relevant, seen = set(relevant_items), set(seen_items)
    candidates = [item for item in ranked_items if item not in seen]
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(candidates[:10]) if item in relevant)
    return dcg / sum(1 / math.log2(rank + 2) for rank in range(min(10, len(relevant))))


def ndcg_buggy(ideal=None, offset=2, cut=10, skip="before", as_tensor=False):
    """ndcg_correct with the given mistakes; ``ideal(top, relevant)`` counts the IDCG positions; the seen
    items are skipped ``"before"`` the cut, ``"after"`` it, or ``"never"``."""
    def ndcg(ranked_items, relevant_items, seen_items):
        relevant, seen = set(relevant_items), set(seen_items)
        ranked = [item for item in ranked_items if item not in seen] if skip == "before" else ranked_items
        top = ranked[:cut]
        if skip == "after":
            top = [item for item in top if item not in seen]
        n_ideal = ideal(top, relevant) if ideal else min(10, len(relevant))
        dcg = sum(1 / math.log2(rank + offset) for rank, item in enumerate(top) if item in relevant)
        value = dcg / sum(1 / math.log2(rank + offset) for rank in range(n_ideal))
        return torch.tensor(value) if as_tensor else value
    return ndcg


def test_check_ndcg_passes_a_correct_function(capsys):
    check_ndcg(ndcg_correct)
    assert "Correct! ndcg_correct agrees with tinyrec.metrics.ndcg_at_k (seen items excluded)" \
        in capsys.readouterr().out


def test_check_ndcg_cases_match_hand_computed_values():
    log2 = math.log2
    by_hand = [(1 / log2(5) + 1 / log2(10)) / (1 + 1 / log2(3)), 1.0, 1 / log2(3),
               0.5 / (1 + 1 / log2(3) + 0.5), 0.0, 1.0,
               (1 / log2(4) + 1 / log2(5) + 1 / log2(9)) / (1 + 1 / log2(3) + 1 / log2(4))]
    cases = exercise.NDCG_CASES
    assert [exercise._reference_ndcg(ranked, relevant, seen) for _, ranked, relevant, seen, _ in cases] \
        == pytest.approx(by_hand)
    assert round(by_hand[0], 4) == 0.4486  # the worked example in the notebook's text
    # ... and with the seen items left in: item 5 at rank 6, item 6 at rank 11
    _, ranked, relevant, _, _ = cases[0]
    assert exercise._reference_ndcg(ranked, relevant) == pytest.approx((1 / log2(7)) / (1 + 1 / log2(3)))
    assert round((1 / log2(7)) / (1 + 1 / log2(3)), 3) == 0.218


def test_check_ndcg_cases_are_whole_catalogues():
    for name, ranked, relevant, seen, _ in exercise.NDCG_CASES:
        assert sorted(ranked) == list(range(len(ranked))), name
        assert not set(relevant) & set(seen) and len(set(relevant)) == len(relevant), name


@pytest.mark.parametrize("fn, message", [
    (ndcg_buggy(skip="never"), "Seen items not excluded."),
    (ndcg_buggy(skip="after"), "Seen items removed after cutting the top 10"),
    (ndcg_buggy(ideal=lambda top, relevant: 10), "IDCG summed over all K = 10 positions"),
    (ndcg_buggy(ideal=lambda top, relevant: len(relevant)), "IDCG summed over all relevant items"),
    (ndcg_buggy(ideal=lambda top, relevant: min(10, len(set(top) & relevant))),
     "IDCG computed from the relevant items you retrieved"),
    (ndcg_buggy(offset=1), "divided by zero.\nThe discount at rank r is 1/log2(r + 1)"),
    (ndcg_buggy(offset=3), "Discount off by one"),
    (ndcg_buggy(cut=None), "Items below rank 10 counted"),
    (ndcg_buggy(skip="never", offset=3), "2 mistakes:\n(1) Seen items not excluded."),
    (ndcg_buggy(skip="after", ideal=lambda top, relevant: 10),
     "2 mistakes:\n(1) Seen items removed after cutting the top 10"),
    (ndcg_buggy(as_tensor=True), "it returned a torch.Tensor, not a number"),
    (lambda ranked, relevant, seen: float("inf"), "the result of a division by zero"),
    (lambda ranked, relevant, seen: 0.5, "Case 'the worked example in the text': <lambda>([7, 2, 9"),
    (lambda ranked, relevant, seen: "0.5", "it returned '0.5' (str): return a Python float"),
])
def test_check_ndcg_names_the_mistake(fn, message):
    assert_names(fails_with(check_ndcg, fn), message)


def test_the_not_excluded_diagnosis_is_ndcg_at_k_without_exclude():
    _, ranked, relevant, seen, _ = exercise.NDCG_CASES[0]
    fn, text = exercise.NDCG_MISTAKES[0]
    assert text == exercise.NOT_EXCLUDED
    assert fn(ranked, relevant, seen) == pytest.approx(exercise._ndcg_variant(ranked, relevant, seen, skip="never"))


def test_each_mistake_is_named_on_the_first_case_it_changes():
    """For every diagnosis, the first case where its value is wrong is a case where no diagnosis listed
    before it gives the same value — except one of its own parts: the check names it, or part of it."""
    for index, (fn, text) in enumerate(exercise.NDCG_MISTAKES):
        for _, ranked, relevant, seen, _ in exercise.NDCG_CASES:
            value = fn(ranked, relevant, seen)
            if not same(value, exercise._reference_ndcg(ranked, relevant, seen), rtol=0, atol=1e-6):
                named = [other_text for other, other_text in exercise.NDCG_MISTAKES[:index]
                         if same(value, other(ranked, relevant, seen), rtol=0, atol=1e-6)]
                assert all(other_text in text for other_text in named), (text, named)
                break
        else:
            pytest.fail(f"no case shows the mistake: {text}")


def test_check_ndcg_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_ndcg(stub)
