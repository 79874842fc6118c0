"""Exercise 0 (``00_exercise_ndcg``): NDCG@10 of one user, in plain Python, seen items excluded.

The model's ranking covers the whole catalogue, the user's training (seen) items included; they must be
skipped before the top 10 are taken. :func:`check_ndcg` compares the learner's function with
:func:`tinyrec.metrics.ndcg_at_k` (``exclude=`` the seen items) on hand-picked cases, and recognises the
seen items left in (``ndcg_at_k`` without ``exclude``) or removed only after the top 10 was cut, and the
classic mistakes: the IDCG over K, over every relevant item or over the retrieved ones, the discount off by
one, items below rank 10 counted, a division by zero — alone, or with the seen items mishandled.
"""

import math
import numbers

import numpy as np
import torch

from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake
from tinyrec.metrics import ndcg_at_k

__all__ = ["check_ndcg"]


K = 10
# (what the case shows, ranked_items: the whole catalogue best first, relevant_items, seen_items, hint)
NDCG_CASES = [
    ("the worked example in the text", [7, 2, 9, 0, 11, 5, 3, 10, 1, 8, 6, 4], [5, 6], [7, 9],
     "Without the seen items 7 and 9 the ranking is [2, 0, 11, 5, 3, 10, 1, 8, 6, 4]: the relevant items are "
     "at ranks 4 and 9. DCG = 1/log2(5) + 1/log2(10), IDCG = 1/log2(2) + 1/log2(3)."),
    ("no seen item in the top 10, two relevant items at the top", [7, 3, 12, 0, 5, 9, 1, 13, 2, 8, 4, 6, 10, 11],
     [7, 3], [10, 11],
     "A perfect ranking: NDCG = 1, whatever K is."),
    ("one relevant item, at rank 2 once the seen items are skipped", [4, 5, 3, 9, 1, 0, 2, 6, 7, 8, 10, 11], [3],
     [4, 11],
     "Skip item 4 (seen): item 3 is at rank 2. DCG = 1/log2(2 + 1), IDCG = 1/log2(1 + 1) = 1: NDCG = 0.631."),
    ("relevant at ranks 3 and 11 and far down", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17],
     [2, 10, 16], [17],
     "Only rank 3 is in the top 10, so DCG = 1/log2(4); IDCG counts all 3 relevant items, retrieved or not."),
    ("the only relevant item at rank 11 once the seen items are skipped",
     [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [11], [0],
     "Without item 0 (seen), item 11 is at rank 11, outside the top 10: NDCG@10 = 0, and IDCG (one relevant "
     "item) is 1, not 0."),
    ("12 relevant items filling the top 10", list(range(16)), list(range(2, 14)), [0, 1],
     "Skip the seen items 0 and 1: every one of the next 10 is relevant, a perfect top 10: NDCG@10 = 1."),
    ("seen items fill most of the top 10", [3, 1, 4, 15, 9, 2, 6, 5, 8, 13, 7, 0, 10, 11, 12, 14], [7, 0, 14],
     [3, 1, 4, 15, 9, 2, 6, 5],
     "A model that ranks the user's history first: 8 of its first 10 items are seen. Skipped, they leave "
     "[8, 13, 7, 0, 10, 11, 12, 14]: relevant at ranks 3, 4 and 8."),
]


def _ndcg_variant(ranked, relevant, seen, n_ideal=None, offset=1, cut=K, skip="before"):
    """NDCG@K of one list with its parts made explicit, to recognise a mistake: the seen items skipped
    ``"before"`` the cut, only ``"after"`` it (the top 10 shrinks), or ``"never"``; ``n_ideal`` positions
    in the IDCG (by default min(K, |relevant|), or ``"retrieved"``); discount ``1 / log2(rank + offset)``;
    only the first ``cut`` ranks counted (all when None)."""
    relevant, seen = set(relevant), set(seen)
    if skip == "before":
        ranked = [item for item in ranked if item not in seen]
    top = ranked[:cut] if skip != "after" else [item for item in ranked[:cut] if item not in seen]
    if n_ideal == "retrieved":
        n_ideal = len(set(top[:K]) & relevant)
    n_ideal = min(K, len(relevant)) if n_ideal is None else n_ideal
    dcg = sum(1 / math.log2(rank + offset) for rank, item in enumerate(top, start=1) if item in relevant)
    return dcg / sum(1 / math.log2(rank + offset) for rank in range(1, n_ideal + 1))


def _reference_ndcg(ranked, relevant, seen=None):
    """NDCG@K of one ranking of the whole catalogue, best first, by ``tinyrec.metrics.ndcg_at_k``, with the
    ``seen`` items excluded (``exclude=``), or left in the ranking when ``seen`` is None."""
    n_items = len(ranked)
    scores = torch.zeros(1, n_items, dtype=torch.float64)
    scores[0, ranked] = torch.arange(n_items, 0, -1, dtype=torch.float64)
    mask = torch.zeros(1, n_items, dtype=torch.bool)
    mask[0, relevant] = True
    exclude = None
    if seen is not None:
        exclude = torch.zeros(1, n_items, dtype=torch.bool)
        exclude[0, seen] = True
    return ndcg_at_k(scores, mask, K, exclude=exclude).item()


DIVISION_BY_ZERO = ("The discount at rank r is 1/log2(r + 1): 1 at rank 1, never 1/log2(1) = 1/0. "
                    "IDCG sums over min(K, |relevant|) >= 1 positions, so it is never 0 either.")
NOT_EXCLUDED = (
    "Seen items not excluded. ranked_items ranks the whole catalogue, the user's training items included, "
    "and a model that fits its training data ranks them high. They are never recommended (the user has them "
    "already) and never relevant (the held-out items are new to the user), so each one left in the top 10 "
    "takes the place of an item that could have been a hit. Skip them first, then cut: "
    "[i for i in ranked_items if i not in seen], then [:10] — what tinyrec.metrics.ndcg_at_k(..., "
    "exclude=seen) does.")
EXCLUDED_AFTER = (
    "Seen items removed after cutting the top 10: the list you scored is shorter than 10 whenever a seen item "
    "was in the top 10. Remove them from the whole ranking first, then take 10, so that the items at ranks "
    "11, 12, ... move up into the places they free.")
OTHER_MISTAKES = [  # (the options of _ndcg_variant that make this mistake, the diagnosis)
    ({"n_ideal": K},
     "IDCG summed over all K = 10 positions. The ideal ranking puts the user's relevant items first, so "
     "it has only min(K, |relevant|) non-zero terms: with 2 relevant items at the top, NDCG must be 1."),
    ({"n_ideal": "all"},
     "IDCG summed over all relevant items. The ideal top-K list is cut at K too: min(K, |relevant|) terms."),
    ({"offset": 2},
     "Discount off by one: rank 1 (the first item) is discounted by 1/log2(1 + 1) = 1. With enumerate(), "
     "which counts from 0, that is 1/log2(i + 2); with ranks counted from 1, 1/log2(rank + 1)."),
    ({"cut": None},
     "Items below rank 10 counted. NDCG@10 looks only at the top 10: take the first 10 of the unseen items."),
    ({"n_ideal": "retrieved"},
     "IDCG computed from the relevant items you retrieved. It comes from all of the user's relevant items, "
     "min(K, |relevant|) of them, retrieved or not; otherwise missing an item costs nothing."),
]


def _variant(options, skip="before"):
    """``fn(ranked, relevant, seen)`` returning :func:`_ndcg_variant` with ``options`` (``n_ideal="all"``
    meaning every relevant item)."""
    def fn(ranked, relevant, seen):
        chosen = dict(options)
        if chosen.get("n_ideal") == "all":
            chosen["n_ideal"] = len(set(relevant))
        return _ndcg_variant(ranked, relevant, seen, skip=skip, **chosen)
    return fn


def _both(first, second):
    return f"2 mistakes:\n(1) {first}\n(2) {second}"


NDCG_MISTAKES = (  # (what the learner's function returns with this mistake, the diagnosis); fewest first
    [(lambda ranked, relevant, seen: _reference_ndcg(ranked, relevant), NOT_EXCLUDED),
     (_variant({}, skip="after"), EXCLUDED_AFTER)]
    + [(_variant(options), text) for options, text in OTHER_MISTAKES]
    + [(_variant(options, skip=skip), _both(first, text)) for options, text in OTHER_MISTAKES
       for skip, first in (("never", NOT_EXCLUDED), ("after", EXCLUDED_AFTER))
       if not (skip == "after" and options.get("cut", K) is None)]  # no cut: "after" is "before"
)


def _diagnose_ndcg(result, expected, ranked, relevant, seen):
    """What is wrong with ``result`` for this case, or None when it is right."""
    if isinstance(result, (torch.Tensor, np.ndarray)):
        return (f"it returned a {type(result).__module__}.{type(result).__name__}, not a number: "
                "return a plain Python float (float(x), or x.item() for a one-element tensor).")
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        return f"it returned {result!r} ({type(result).__name__}): return a Python float."
    if not math.isfinite(result):
        return f"it returned {result}, the result of a division by zero. {DIVISION_BY_ZERO}"
    if same(result, expected, rtol=0, atol=1e-6):
        return None
    return (which_mistake(result, NDCG_MISTAKES, ranked, relevant, seen, rtol=0, atol=1e-6)
            or f"expected {expected:.4f}, got {result:.4f}.")


def check_ndcg(fn):
    """Check ``fn(ranked_items, relevant_items, seen_items) -> float``, NDCG@10 of one user whose ranking of
    the whole catalogue includes the ``seen_items``, against ``tinyrec.metrics.ndcg_at_k(...,
    exclude=seen)`` on hand-picked cases; prints a message when it is right and raises ``AssertionError``
    naming the case and the likely mistake when it is not."""
    for name, ranked, relevant, seen, hint in NDCG_CASES:
        expected = _reference_ndcg(ranked, relevant, seen)
        call = f"{fn_name(fn)}({ranked}, {relevant}, {seen})"
        try:
            with np.errstate(all="ignore"):
                result = fn(list(ranked), list(relevant), list(seen))
        except ZeroDivisionError as error:
            raise case_error(name, call, f"divided by zero.\n{DIVISION_BY_ZERO}", hint) from error
        problem = _diagnose_ndcg(result, expected, ranked, relevant, seen)
        if problem:
            raise case_error(name, call, problem, hint)
    correct(fn_name(fn), "tinyrec.metrics.ndcg_at_k (seen items excluded)", [case[0] for case in NDCG_CASES])
