"""Exercise 4.1 (``04_exercise_popularity_share``): how head-heavy and how broad is a set of top-k lists.

:func:`check_popularity_share` compares the learner's ``list_bias(scores, head, k, exclude) -> (head_share,
coverage)`` with :func:`tinyrec.popularity.popularity_share` (mean over users) and
:func:`tinyrec.popularity.coverage_at_k` on three small catalogues with distinct scores, and names the known
mistakes, each computed with the library: seen items left in the lists; the bottom k taken instead of the
top k; the head share of the *distinct* items shown instead of the slots; the share of users shown any head
item; the head's share of the catalogue; coverage as a count of items, as distinct items per slot, or as the
mean over users of each list's share of the catalogue.
"""

import numbers

import torch

from tinyrec import popularity
from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake

__all__ = ["check_popularity_share"]


def _lists(scores, k, exclude):
    """``[n_users, k]`` item indices of each top-k list (the cases have distinct scores: no ties)."""
    return scores.masked_fill(exclude, float("-inf")).topk(k, dim=1).indices


def _shown(scores, k, exclude):
    shown = torch.zeros(scores.shape[1], dtype=torch.bool)
    shown[_lists(scores, k, exclude).flatten()] = True
    return shown


def head_share(scores, head, k, exclude):
    return popularity.popularity_share(scores, head, k, exclude).mean().item()


SHARE_MISTAKES = [  # (fn(scores, head, k, exclude) with this mistake, the diagnosis)
    (lambda s, h, k, e: head_share(s, h, k, None),
     "The lists still contain items the user has already seen: rank only the items not in `exclude` (set "
     "their scores to -inf before taking the top k). A recommender never shows a user's own history."),
    (lambda s, h, k, e: head_share(-s, h, k, e),
     "It took the k *lowest* scores: the list is the top k, `topk(k)` or a descending sort."),
    (lambda s, h, k, e: h[_shown(s, k, e)].float().mean().item(),
     "It measured the share of head items among the *distinct* items shown. The popularity share counts "
     "slots: a blockbuster in every user's list fills many slots and counts once per slot."),
    (lambda s, h, k, e: h[_lists(s, k, e)].any(dim=1).float().mean().item(),
     "It returned the share of users shown at least one head item: count head items per slot, divide by k "
     "per user, then average over users."),
    (lambda s, h, k, e: h.float().mean().item(),
     "It returned the head's share of the catalogue, which does not depend on the lists: count the head "
     "items in each user's top k."),
]
COVERAGE_MISTAKES = [  # (fn(scores, k, exclude) with this mistake, the diagnosis)
    (lambda s, k, e: popularity.coverage_at_k(s, k, None),
     "The lists still contain items the user has already seen: exclude them before taking the top k."),
    (lambda s, k, e: popularity.coverage_at_k(-s, k, e),
     "It took the k *lowest* scores: the list is the top k."),
    (lambda s, k, e: float(_shown(s, k, e).sum()),
     "It returned the number of distinct items shown: coverage is that number divided by the catalogue "
     "size, a share in (0, 1]."),
    (lambda s, k, e: _shown(s, k, e).sum().item() / (s.shape[0] * k),
     "It divided the distinct items by the number of slots (users × k): coverage is the share of the "
     "*catalogue* (n_items) that appears in at least one list."),
    (lambda s, k, e: k / s.shape[1],
     "It returned one list's share of the catalogue, k / n_items: coverage counts the items that appear in "
     "*any* user's list."),
]


def _case(name, n_users, n_items, n_head, seen_share, seed, k, hint):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(n_users, n_items, generator=generator, dtype=torch.float64)
    popular = torch.arange(n_items) < n_head  # the head: the first items, made to score higher
    scores = scores + 1.5 * popular.double()
    exclude = torch.rand(n_users, n_items, generator=generator) < seen_share
    return name, (scores, popular, k, exclude), hint


CASES = [
    _case("6 users, 12 items (3 in the head), k = 3, nothing seen", 6, 12, 3, 0.0, 0, 3,
          "Each user has 3 slots: 18 slots in all. Count the head items in them; count the distinct items."),
    _case("8 users, 30 items (5 in the head), k = 4, a third of the items seen", 8, 30, 5, 1 / 3, 1, 4,
          "Seen items are never recommended: mask them first, then take the top 4."),
    _case("40 users, 200 items (20 in the head), k = 10, 20% seen", 40, 200, 20, 0.2, 2, 10,
          "Head share = head slots / (users × k); coverage = distinct items shown / 200."),
]


def check_popularity_share(list_bias):
    """Check ``list_bias(scores, head, k, exclude) -> (head_share, coverage)``, two floats, against
    :mod:`tinyrec.popularity`, on three catalogues."""
    passed = []
    for case, (scores, head, k, exclude), hint in CASES:
        call = (f"{fn_name(list_bias)}(scores [{scores.shape[0]} × {scores.shape[1]}], head ({int(head.sum())} "
                f"items), k={k}, exclude ({int(exclude.sum())} seen))")
        result = list_bias(scores.clone(), head.clone(), k, exclude.clone())
        if not (isinstance(result, tuple) and len(result) == 2
                and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in result)):
            raise case_error(case, call, f"it returned {result!r}: return a tuple of two floats, "
                             "(head_share, coverage).", hint)
        share, coverage = result
        expected_share = head_share(scores, head, k, exclude)
        expected_coverage = popularity.coverage_at_k(scores, k, exclude)
        if not same(share, expected_share, rtol=1e-6, atol=1e-9):
            problem = (which_mistake(share, SHARE_MISTAKES, scores, head, k, exclude, rtol=1e-6, atol=1e-9)
                       or f"head_share: expected {expected_share:.4f}, got {share:.4f}.")
            raise case_error(case, call, problem, hint)
        if not same(coverage, expected_coverage, rtol=1e-6, atol=1e-9):
            problem = (which_mistake(coverage, COVERAGE_MISTAKES, scores, k, exclude, rtol=1e-6, atol=1e-9)
                       or f"coverage: expected {expected_coverage:.4f}, got {coverage:.4f}.")
            raise case_error(case, call, problem, hint)
        passed.append(case)
    correct(fn_name(list_bias), "tinyrec.popularity.popularity_share and coverage_at_k", passed)
