"""Exercise 1.1 (``01_exercise_soft_targets``): soft targets, ``softmax(scores / T)`` over each row.

:func:`check_soft_targets` compares the learner's function with ``torch.softmax`` (excluded items masked
to ``-inf``), and recognises the temperature left out or multiplied, the wrong dimension, excluded items
zeroed after the softmax or kept, log-probabilities, a sigmoid, missing normalisation and overflow.
"""

import torch

from tinyrec.exercises._core import case_error, correct, fn_name, not_a_tensor, same, short, which_mistake

__all__ = ["check_soft_targets"]


def _soft(scores, temperature, exclude=None, dim=1):
    """``softmax(scores / T)`` along ``dim``, excluded items at probability 0 (``torch.softmax``)."""
    z = scores / temperature
    return torch.softmax(z if exclude is None else z.masked_fill(exclude, float("-inf")), dim=dim)


def _mask(x, exclude):
    return x if exclude is None else x.masked_fill(exclude, float("-inf"))


SOFT_MISTAKES = [  # (what fn(scores, T, exclude) returns with this mistake, the diagnosis)
    (lambda s, T, ex: _soft(s, 1.0, ex),
     "The scores were not divided by the temperature: this is softmax(scores), the distribution at T = 1. "
     "Divide first: softmax(scores / T)."),
    (lambda s, T, ex: _soft(s * T * T, T, ex),
     "The scores were multiplied by the temperature instead of divided: softmax(scores * T). A small T must "
     "sharpen the distribution (scores / T grow) and a large T flatten it."),
    (lambda s, T, ex: _soft(s, T, ex, dim=0),
     "Normalised over the wrong dimension: each column sums to 1 (over users), not each row. A row is one "
     "user's scores over the items; use dim=1 (or dim=-1)."),
    (lambda s, T, ex: _soft(s, T) * (1.0 if ex is None else (~ex).float()),
     "Excluded items were set to 0 *after* the softmax, so the remaining probabilities no longer sum to 1. "
     "Set their scores to -inf *before* the softmax (exp(-inf) = 0), or renormalise each row."),
    (lambda s, T, ex: _soft(s, T),
     "The excluded items kept their probability: with exclude given, their probability must be exactly 0 "
     "and the other items share all of it. Set their scores to -inf before the softmax, e.g. "
     "scores.masked_fill(exclude, float('-inf'))."),
    (lambda s, T, ex: torch.log_softmax(_mask(s / T, ex), dim=1),
     "It returned log-probabilities (log_softmax): return the probabilities themselves."),
    (lambda s, T, ex: torch.sigmoid(s / T) * (1.0 if ex is None else (~ex).float()),
     "A sigmoid per item is not a distribution over the items: use a softmax over each row."),
]
OVERFLOW = ("exp(1000 / 2) = exp(500) overflows float32 (its largest value is about 3.4e38 = exp(88.7)), "
            "and inf / inf = nan; exp(-500) underflows to 0, and 0 / 0 = nan. Subtract each row's maximum "
            "before exp — softmax(z) = softmax(z - max z), and then the largest term is exp(0) = 1 — or use "
            "torch.softmax, which does exactly that.")
# (name, scores, temperature, exclude, hint)
SOFT_CASES = [
    ("two users, four items, T = 0.5", [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, -1.0]], 0.5, None,
     "Row 1 is softmax([2, 4, 6, 8]) = [0.002, 0.016, 0.117, 0.865]; each row sums to 1."),
    ("EASE-like scores at T = 0.05",
     [[0.31, 0.02, 0.18, -0.04, 0.25, 0.11], [0.05, 0.42, 0.40, 0.01, 0.0, 0.22],
      [0.12, 0.12, 0.3, 0.6, 0.07, -0.01]], 0.05, None,
     "EASE scores differ by hundredths: at T = 0.05 a gap of 0.1 is a factor e^2 ≈ 7.4 in probability."),
    ("large scores, T = 2", [[1000.0, 999.0, 990.0, 980.0], [-1000.0, -998.0, -1010.0, -1001.0]], 2.0, None,
     "The result must not depend on adding a constant to a row: softmax(z) = softmax(z - max z)."),
    ("two of five items excluded per user, T = 0.5",
     [[2.0, 1.0, 0.5, 3.0, 0.0], [0.2, 0.4, 1.6, 0.8, 1.0]], 0.5,
     [[False, False, True, True, False], [True, False, False, False, True]],
     "Excluded items (e.g. a user's training items) get probability exactly 0; the others share 1."),
]


def _diagnose_soft(result, expected, scores, temperature, exclude):
    problem = not_a_tensor(result, expected.shape)
    if problem:
        return problem
    if not torch.isfinite(result).all():
        if scores.abs().max() > 100:
            return f"it returned {short(result)}. {OVERFLOW}"
        return f"it returned non-finite values: {short(result)}."
    if same(result, expected):
        return None
    found = which_mistake(result, SOFT_MISTAKES, scores, temperature, exclude)
    if found:
        return found
    sums = result.detach().sum(dim=1, keepdim=True)
    if not same(sums, torch.ones_like(sums)):
        if same(result.detach() / sums, expected):
            return (f"Not normalised: each row is proportional to the right answer but sums to "
                    f"{short(sums.flatten())}. exp(scores / T) is a weight, not a probability: divide each "
                    "row by its sum.")
        return f"its rows sum to {short(sums.flatten())}, not 1: each row must be a probability distribution."
    if exclude is not None and result.detach()[exclude].abs().max() > 0:
        return "excluded items got non-zero probability: they must get exactly 0."
    return f"expected {short(expected)}, got {short(result)}."


def check_soft_targets(fn):
    """Check ``fn(scores, temperature, exclude=None)``: float ``[b, n]`` scores -> each row's
    ``softmax(scores / T)``, excluded items (bool ``[b, n]``, True = exclude) at probability 0."""
    for name, scores, temperature, exclude, hint in SOFT_CASES:
        scores = torch.tensor(scores)
        exclude = None if exclude is None else torch.tensor(exclude)
        expected = _soft(scores, temperature, exclude)
        arguments = (scores.clone(), temperature) + (() if exclude is None else (exclude.clone(),))
        call = f"{fn_name(fn)}(scores={short(scores)}, temperature={temperature}" + (
            ")" if exclude is None else f", exclude={exclude.int().tolist()})")
        result = fn(*arguments)
        problem = _diagnose_soft(result, expected, scores, temperature, exclude)
        if not problem and not all(torch.equal(a, b) for a, b in zip(arguments[::2], (scores, exclude))):
            problem = ("it changed its input in place (e.g. masked_fill_ or /=), so the caller's scores are "
                       "modified: use the out-of-place versions (masked_fill, /).")
        if problem:
            raise case_error(name, call, problem, hint)
    correct(fn_name(fn), "torch.softmax (excluded items masked)",
            [case[0] for case in SOFT_CASES])
