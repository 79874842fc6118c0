"""What every exercise check shares: comparing a result with the library, naming the known mistake that
matches it, the messages (``Case '<case>': <call>`` / what is wrong / ``Hint:``, and "Correct! ..."), and
telling what a number the learner reports as "validation NDCG@10" really measures."""

import itertools
import numbers

import numpy as np
import torch

from tinyrec import evaluate, metrics

__all__ = ["fn_name", "same", "which_mistake", "case_error", "not_a_tensor", "not_an_int", "correct", "short",
           "measurement_of"]


def fn_name(fn):
    """The name of the learner's function or class, for messages."""
    return getattr(fn, "__name__", "fn")


def same(result, expected, rtol=1e-4, atol=1e-6):
    """``result`` equals ``expected`` up to rounding: numbers, or tensors of the same shape; NaN never does."""
    try:
        a = torch.as_tensor(result.detach() if isinstance(result, torch.Tensor) else result, dtype=torch.float64)
        b = torch.as_tensor(expected.detach() if isinstance(expected, torch.Tensor) else expected,
                            dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def which_mistake(result, mistakes, *args, equal=same, **tolerance):
    """The diagnosis of the first ``(mistake, diagnosis)`` whose ``mistake(*args)`` equals ``result``
    (by ``equal(result, value, **tolerance)``: :func:`same` unless the answers are not numbers)."""
    for mistake, diagnosis in mistakes:
        try:
            value = mistake(*args)
        except (ZeroDivisionError, ValueError, RuntimeError):  # this mistake would have crashed here
            continue
        if equal(result, value, **tolerance):
            return diagnosis
    return None


def case_error(case, call, problem, hint):
    """The ``AssertionError`` a check raises: the case, the call that failed, what is wrong, a hint."""
    return AssertionError(f"Case '{case}': {call}\n{problem}\nHint: {hint}")


def not_a_tensor(result, shape):
    """What is wrong when ``result`` is not a float tensor of ``shape`` (``()`` for a scalar), or None."""
    if not isinstance(result, torch.Tensor):
        return (f"it returned a {type(result).__name__}, not a torch.Tensor: keep the result a tensor "
                "(no .item(), .tolist() or .numpy()), so that it can be differentiated and compared.")
    if not result.is_floating_point():
        return f"it returned a {result.dtype} tensor: return floating-point values."
    if tuple(result.shape) != tuple(shape):
        wanted = "a scalar (shape [])" if not shape else f"shape {list(shape)}"
        return f"it returned a tensor of shape {list(result.shape)}, expected {wanted}."
    return None


def not_an_int(result):
    """What is wrong when ``result`` is not a Python (or NumPy) integer, or None."""
    if isinstance(result, bool) or not isinstance(result, numbers.Integral):
        return f"it returned {result!r} ({type(result).__name__}): return a whole number of bytes, an int."
    return None


def correct(fn, reference, cases):
    """Print "Correct! ``fn`` agrees with ``reference`` on:" and the cases passed."""
    verb = "agree" if " and " in fn else "agrees"  # one function or two
    print(f"Correct! {fn} {verb} with {reference} on:", *(f"  ✓ {case}" for case in cases), sep="\n")


def short(x):
    """A tensor's values, rounded, on one line (for messages)."""
    return np.array2string(x.detach().double().numpy(), precision=4, suppress_small=True,
                           max_line_width=200).replace("\n", "")


METRICS = ("ndcg", "recall", "hit", "mrr")


def measurement_of(value, model, split):
    """What ``value`` measures of ``model`` on ``split``, when it should be its validation NDCG@10.

    Returns None when it is the validation NDCG@10 (``tinyrec.evaluate.evaluate(model, split, "valid")``);
    ``"test"`` for the test NDCG@10; ``"<metric>@<k> on '<part>'"`` for another metric or cut-off (10, 5
    or 20) on either part; ``"training items"`` for the validation NDCG@10 with the users' training items
    left in the ranking; ``"unknown"`` otherwise.
    """
    def close(x):
        return same(value, x, rtol=1e-5, atol=1e-7)

    if close(evaluate.evaluate(model, split, "valid")["ndcg@10"]):
        return None
    if close(evaluate.evaluate(model, split, "test")["ndcg@10"]):
        return "test"
    for part, k in itertools.product(("valid", "test"), (10, 5, 20)):
        found = evaluate.evaluate(model, split, part, k)
        for metric in METRICS:
            if close(found[f"{metric}@{k}"]):
                return f"{metric}@{k} on '{part}'"
    scores = evaluate.score_all(model, split)
    if close(metrics.ndcg_at_k(scores, split.mask("valid"), 10).mean().item()):
        return "training items"
    return "unknown"
