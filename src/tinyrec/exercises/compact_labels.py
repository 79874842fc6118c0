"""Exercise 4.3 (``04_exercise_compact_labels``): store the teacher's top-K soft labels compactly.

:func:`check_compact_labels` calls the learner's ``compact_top_k(teacher_scores, seen, k) -> (items, scores)``
on three catalogues (8 items with ties at the K-th place, a MovieLens-sized 1,682 items with scores rounded so
that ties are common, and 40,000 items) and compares the answer with :func:`tinyrec.labels.top_k_labels`.
It names the known mistakes: the wrong number of columns (K), ids in a type larger than needed (int64, int32)
or too small for the catalogue (wrapped-around ids), scores in float32/float64 or bfloat16, training items
labelled, ties reordered (not by lower item id) or lost at the K-th place, scores that are not the teacher's.
"""

import torch

from tinyrec import labels
from tinyrec.exercises._core import case_error, correct, fn_name

__all__ = ["check_compact_labels"]

ID_RANGE = {torch.uint8: 255, torch.int8: 127, torch.int16: 32_767, torch.int32: 2**31 - 1, torch.int64: 2**63 - 1}


def _cases():
    """``(name, teacher_scores, seen, k, hint)``: small hand-made ties, a MovieLens-size catalogue, a large one."""
    ties = torch.tensor([[0.3, 0.7, 0.5, 0.7, 0.5, 0.5, 0.1, 0.0],
                         [0.2, 0.2, 0.2, 0.2, 0.9, 0.2, 0.2, 0.2],
                         [0.6, 0.1, 0.6, 0.4, 0.4, 0.4, 0.8, 0.4]])
    ties_seen = torch.zeros_like(ties, dtype=torch.bool)
    ties_seen[2, 6] = True
    generator = torch.Generator().manual_seed(0)
    movielens = (torch.rand(20, 1682, generator=generator) * 0.6).round(decimals=2)
    movielens_seen = torch.rand(20, 1682, generator=generator) < 0.06
    large = torch.randn(3, 40_000, generator=generator)
    large_seen = torch.zeros_like(large, dtype=torch.bool)
    large_seen[:, 39_990:] = True
    return [
        ("ties at the K-th place, 8 items", ties, ties_seen, 3,
         "Row 0: items 1 and 3 tie at 0.7, then 2, 4 and 5 at 0.5 compete for the 3rd place: item 2 wins."),
        ("a MovieLens-size catalogue, 1,682 items, scores rounded to 0.01", movielens, movielens_seen, 100,
         "1,682 items: ids 0..1,681 fit in int16; many scores tie, so the order of ties matters."),
        ("a 40,000-item catalogue", large, large_seen, 10, "ids up to 39,999 do not fit in int16 (at most 32,767)."),
    ]


def _id_problem(items, expected, n_items):
    if items.dtype not in ID_RANGE:
        return f"the ids are {items.dtype}: store them in an integer type."
    if ID_RANGE[items.dtype] < n_items - 1:
        return (f"the ids are {items.dtype}, which holds ids only up to {ID_RANGE[items.dtype]:,}, but this catalogue "
                f"has {n_items:,} items: larger ids wrap around (to negative numbers). Use {expected}.")
    waste = items.element_size() / torch.empty(0, dtype=expected).element_size()
    return (f"the ids are {items.dtype} ({items.element_size()} bytes each): {waste:g}× the bytes needed. "
            f"{n_items:,} items fit in {expected}, the smallest of uint8, int16, int32, int64 that holds "
            f"{n_items - 1:,}.")


def _score_problem(scores):
    if not scores.is_floating_point():
        return f"the scores are {scores.dtype}: keep them floating point (float16)."
    if scores.dtype == torch.bfloat16:
        return ("the scores are bfloat16: the same 2 bytes as float16 but only 8 bits of mantissa (2–3 significant "
                "digits); teacher scores in [0, 0.6] at T = 0.05 need float16's 11 bits.")
    return (f"the scores are {scores.dtype} ({scores.element_size()} bytes each): float16 (2 bytes) keeps ~3 "
            "significant digits, enough for a softmax target, at a fraction of the bytes.")


def _order_problem(items, scores, expected, teacher_scores, seen):
    got, want = items.long(), expected.items.long()
    if seen.gather(1, got.clamp(0, seen.shape[1] - 1)).any():
        return ("it labelled training (seen) items: the listwise KD loss leaves them out, so exclude them before "
                "taking the top K.")
    if torch.equal(got, want):
        return None
    got_scores, want_scores = teacher_scores.gather(1, got), teacher_scores.gather(1, want)
    if torch.equal(got.sort(dim=1).values, want.sort(dim=1).values):
        if torch.equal(got_scores, want_scores):
            return ("ties are reordered: items with the same score must come in increasing item id (a stable sort "
                    "of the row by score, descending), so that the same scores always give the same labels.")
        return "the right items in the wrong order: best first, by the teacher's score, descending."
    if torch.equal(got_scores, want_scores):
        return ("a tie at the K-th place was lost: several items share the K-th score and the answer kept other "
                "ones than the lowest item ids (torch.topk does not promise which). Sort stably instead.")
    return "these are not the teacher's top-K unseen items (best first)."


def check_compact_labels(compact_top_k):
    """Check ``compact_top_k(teacher_scores, seen, k) -> (items, scores)`` against
    :func:`tinyrec.labels.top_k_labels` on three catalogues."""
    passed = []
    for case, teacher_scores, seen, k, hint in _cases():
        n_items = teacher_scores.shape[1]
        call = f"{fn_name(compact_top_k)}(teacher_scores [{len(teacher_scores)}, {n_items}], seen, k={k})"
        expected = labels.top_k_labels(teacher_scores, k, exclude=seen)
        result = compact_top_k(teacher_scores.clone(), seen.clone(), k)
        problem = None
        if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(x, torch.Tensor) for x in result)):
            problem = f"it returned {type(result).__name__}: return a tuple (items, scores) of two tensors."
        else:
            items, scores = result
            if items.shape != scores.shape or items.dim() != 2 or len(items) != len(teacher_scores):
                problem = (f"items and scores must both be [{len(teacher_scores)}, K]; got {tuple(items.shape)} and "
                           f"{tuple(scores.shape)}.")
            elif items.shape[1] != k:
                problem = f"wrong K: it kept {items.shape[1]} items per user, expected k={k}."
            elif items.dtype != expected.items.dtype:
                problem = _id_problem(items, expected.items.dtype, n_items)
            elif scores.dtype != torch.float16:
                problem = _score_problem(scores)
            else:
                problem = _order_problem(items, scores, expected, teacher_scores, seen)
                if problem is None and not torch.equal(scores, expected.scores):
                    problem = ("the ids are right, the scores are not: store the teacher's own scores of those items "
                               "(not probabilities, not ranks), cast to float16.")
        if problem:
            raise case_error(case, call, problem, hint)
        passed.append(case)
    correct(fn_name(compact_top_k), "tinyrec.labels.top_k_labels", passed)
