"""Exercise 0 (``00_exercise_ndcg``): NDCG@10 of one user, in plain Python.

:func:`check_ndcg` compares the learner's function with :func:`tinyrec.metrics.ndcg_at_k` on hand-picked
cases, and recognises the classic mistakes: the IDCG over K or over every relevant item, repeated items
counted twice, the discount off by one, items below rank 10 counted, a division by zero.
"""

import math
import numbers

import numpy as np
import torch

from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake
from tinyrec.metrics import ndcg_at_k

__all__ = ["check_ndcg"]


K = 10
# (what the case shows, ranked_items, relevant_items, what to look at when it fails)
NDCG_CASES = [
    ("the worked example in the text", [4, 8, 15, 16, 23, 42, 1, 2, 3, 5], [8, 42],
     "Relevant items at ranks 2 and 6: DCG = 1/log2(3) + 1/log2(7), IDCG = 1/log2(2) + 1/log2(3)."),
    ("two relevant items, both at the top", [7, 3, 12, 0, 5, 9, 1, 14, 2, 8, 4, 6], [7, 3],
     "A perfect ranking: NDCG = 1, whatever K is."),
    ("one relevant item, at rank 2", [5, 3, 9, 1, 0, 2, 4, 6, 7, 8, 10], [3],
     "DCG = 1/log2(2 + 1) and IDCG = 1/log2(1 + 1) = 1, so NDCG = 0.631."),
    ("relevant at rank 3, at rank 11 and not ranked", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [2, 10, 30],
     "Only rank 3 is in the top 10, so DCG = 1/log2(4); IDCG counts all 3 relevant items, retrieved or not."),
    ("the only relevant item at rank 11", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [10],
     "Rank 11 is outside the top 10: NDCG@10 = 0, and IDCG (one relevant item) is 1, not 0."),
    ("12 relevant items filling the top 10", list(range(15)), list(range(12)),
     "Every one of the top 10 is relevant, a perfect top-10: NDCG@10 = 1."),
    ("an item listed twice in relevant_items", [5, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10], [5, 5, 2],
     "Items 5 and 2 are relevant (5 is listed twice): DCG = 1 + 1/log2(5), IDCG = 1 + 1/log2(3)."),
]


def _ndcg_variant(ranked, relevant, n_ideal=None, offset=1, cut=K):
    """NDCG@K of one list with its parts made explicit, to recognise a mistake: ``n_ideal`` positions in
    the IDCG (by default min(K, |relevant|)), discount ``1 / log2(rank + offset)``, only the first ``cut``
    ranks counted (all when None)."""
    n_ideal = min(K, len(set(relevant))) if n_ideal is None else n_ideal
    dcg = sum(1 / math.log2(rank + offset) for rank, item in enumerate(ranked[:cut], start=1)
              if item in set(relevant))
    return dcg / sum(1 / math.log2(rank + offset) for rank in range(1, n_ideal + 1))


DIVISION_BY_ZERO = ("The discount at rank r is 1/log2(r + 1): 1 at rank 1, never 1/log2(1) = 1/0. "
                    "IDCG sums over min(K, |relevant|) >= 1 positions, so it is never 0 either.")
NDCG_MISTAKES = [  # (what the learner's function returns when it makes this mistake, the diagnosis)
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, n_ideal=K),
     "IDCG summed over all K = 10 positions. The ideal ranking puts the user's relevant items first, so "
     "it has only min(K, |relevant|) non-zero terms: with 2 relevant items at the top, NDCG must be 1."),
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, n_ideal=len(set(relevant))),
     "IDCG summed over all relevant items. The ideal top-K list is cut at K too: min(K, |relevant|) terms."),
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, n_ideal=min(K, len(relevant))),
     "Repeated items counted twice. relevant_items may list an item more than once: use a set."),
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, offset=2),
     "Discount off by one: rank 1 (the first item) is discounted by 1/log2(1 + 1) = 1. With enumerate(), "
     "which counts from 0, that is 1/log2(i + 2); with ranks counted from 1, 1/log2(rank + 1)."),
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, cut=None),
     "Items below rank 10 counted. NDCG@10 looks only at the top 10: use ranked_items[:10]."),
    (lambda ranked, relevant: _ndcg_variant(ranked, relevant, n_ideal=len(set(ranked[:K]) & set(relevant))),
     "IDCG computed from the relevant items you retrieved. It comes from all of the user's relevant items, "
     "min(K, |relevant|) of them, retrieved or not; otherwise missing an item costs nothing."),
]


def _reference_ndcg(ranked, relevant):
    """NDCG@K of one ranked list (at least K items, best first), by ``tinyrec.metrics.ndcg_at_k``."""
    n_items = max(ranked + relevant) + 1
    scores = torch.full((1, n_items), -1.0, dtype=torch.float64)  # unranked items come after the list
    scores[0, ranked] = torch.arange(len(ranked), 0, -1, dtype=torch.float64)
    mask = torch.zeros(1, n_items, dtype=torch.bool)
    mask[0, relevant] = True
    return ndcg_at_k(scores, mask, K).item()


def _diagnose_ndcg(result, expected, ranked, relevant):
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
    return (which_mistake(result, NDCG_MISTAKES, ranked, relevant, rtol=0, atol=1e-6)
            or f"expected {expected:.4f}, got {result:.4f}.")


def check_ndcg(fn):
    """Check ``fn(ranked_items, relevant_items) -> float``, NDCG@10 of one user, against
    ``tinyrec.metrics.ndcg_at_k`` on hand-picked cases; prints a message when it is right and raises
    ``AssertionError`` naming the case and the likely mistake when it is not."""
    for name, ranked, relevant, hint in NDCG_CASES:
        expected = _reference_ndcg(ranked, relevant)
        call = f"{fn_name(fn)}({ranked}, {relevant})"
        try:
            with np.errstate(all="ignore"):
                result = fn(list(ranked), list(relevant))
        except ZeroDivisionError as error:
            raise case_error(name, call, f"divided by zero.\n{DIVISION_BY_ZERO}", hint) from error
        problem = _diagnose_ndcg(result, expected, ranked, relevant)
        if problem:
            raise case_error(name, call, problem, hint)
    correct(fn_name(fn), "tinyrec.metrics.ndcg_at_k", [case[0] for case in NDCG_CASES])
