"""The checks that end the book's exercises: each says what is wrong, not just "failed".

Every check follows one pattern. It runs the learner's function on a few hand-picked cases and compares
the result with the library (:mod:`tinyrec.metrics`, :mod:`tinyrec.distill`, :mod:`tinyrec.evaluate`).
When they differ, it computes what each *known mistake* would have returned on the same case — each
mistake written with the library too, so nothing here re-implements it — and names the one that
matches. It raises ``AssertionError("Case '<case>': <call>\\n<what is wrong>\\nHint: <hint>")``; a correct
function gets "Correct! ..." and the list of cases it passed. The exercise's stub, ``raise
NotImplementedError``, propagates unchanged.

* :func:`check_ndcg` — Exercise 0, NDCG@10 of one user.
* :func:`check_soft_targets` — Exercise 1.1, the softmax at temperature ``T``.
* :func:`check_kd_loss` — Exercise 1.2, Hinton's loss; recognises the source document's mistakes.
* :func:`check_ranking_distillation` — Exercise 1.3, Ranking Distillation's weights and loss.
* :func:`check_temperature_choice` — Exercise 1.4, choosing ``T`` on the validation users.
"""

import itertools
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from tinyrec import distill
from tinyrec.metrics import ndcg_at_k

__all__ = ["check_ndcg", "check_soft_targets", "check_kd_loss", "check_ranking_distillation",
           "check_temperature_choice"]


# ----------------------------------------------------------------------------------------------------------
# Shared helpers


def _name(fn):
    return getattr(fn, "__name__", "fn")


def _same(result, expected, rtol=1e-4, atol=1e-6):
    """``result`` equals ``expected`` up to rounding: numbers, or tensors of the same shape; NaN never does."""
    try:
        a = torch.as_tensor(result.detach() if isinstance(result, torch.Tensor) else result, dtype=torch.float64)
        b = torch.as_tensor(expected.detach() if isinstance(expected, torch.Tensor) else expected,
                            dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol))


def _which_mistake(result, mistakes, *args, **tolerance):
    """The diagnosis of the first ``(mistake, diagnosis)`` whose ``mistake(*args)`` equals ``result``."""
    for mistake, diagnosis in mistakes:
        try:
            value = mistake(*args)
        except (ZeroDivisionError, ValueError, RuntimeError):  # this mistake would have crashed here
            continue
        if _same(result, value, **tolerance):
            return diagnosis
    return None


def _case_error(case, call, problem, hint):
    return AssertionError(f"Case '{case}': {call}\n{problem}\nHint: {hint}")


def _not_a_tensor(result, shape):
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


def _correct(fn, reference, cases):
    verb = "agree" if " and " in fn else "agrees"  # one function or two
    print(f"Correct! {fn} {verb} with {reference} on:", *(f"  ✓ {case}" for case in cases), sep="\n")


def _short(x):
    """A tensor's values, rounded, on one line (for messages)."""
    return np.array2string(x.detach().double().numpy(), precision=4, suppress_small=True,
                           max_line_width=200).replace("\n", "")


# ----------------------------------------------------------------------------------------------------------
# Exercise 0: NDCG@10 of one user

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
    if _same(result, expected, rtol=0, atol=1e-6):
        return None
    return (_which_mistake(result, NDCG_MISTAKES, ranked, relevant, rtol=0, atol=1e-6)
            or f"expected {expected:.4f}, got {result:.4f}.")


def check_ndcg(fn):
    """Check ``fn(ranked_items, relevant_items) -> float``, NDCG@10 of one user, against
    ``tinyrec.metrics.ndcg_at_k`` on hand-picked cases; prints a message when it is right and raises
    ``AssertionError`` naming the case and the likely mistake when it is not."""
    for name, ranked, relevant, hint in NDCG_CASES:
        expected = _reference_ndcg(ranked, relevant)
        call = f"{_name(fn)}({ranked}, {relevant})"
        try:
            with np.errstate(all="ignore"):
                result = fn(list(ranked), list(relevant))
        except ZeroDivisionError as error:
            raise _case_error(name, call, f"divided by zero.\n{DIVISION_BY_ZERO}", hint) from error
        problem = _diagnose_ndcg(result, expected, ranked, relevant)
        if problem:
            raise _case_error(name, call, problem, hint)
    _correct(_name(fn), "tinyrec.metrics.ndcg_at_k", [case[0] for case in NDCG_CASES])


# ----------------------------------------------------------------------------------------------------------
# Exercise 1.1: soft targets, softmax(scores / T) over each row, excluded items at 0


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
    problem = _not_a_tensor(result, expected.shape)
    if problem:
        return problem
    if not torch.isfinite(result).all():
        if scores.abs().max() > 100:
            return f"it returned {_short(result)}. {OVERFLOW}"
        return f"it returned non-finite values: {_short(result)}."
    if _same(result, expected):
        return None
    found = _which_mistake(result, SOFT_MISTAKES, scores, temperature, exclude)
    if found:
        return found
    sums = result.detach().sum(dim=1, keepdim=True)
    if not _same(sums, torch.ones_like(sums)):
        if _same(result.detach() / sums, expected):
            return (f"Not normalised: each row is proportional to the right answer but sums to "
                    f"{_short(sums.flatten())}. exp(scores / T) is a weight, not a probability: divide each "
                    "row by its sum.")
        return f"its rows sum to {_short(sums.flatten())}, not 1: each row must be a probability distribution."
    if exclude is not None and result.detach()[exclude].abs().max() > 0:
        return "excluded items got non-zero probability: they must get exactly 0."
    return f"expected {_short(expected)}, got {_short(result)}."


def check_soft_targets(fn):
    """Check ``fn(scores, temperature, exclude=None)``: float ``[b, n]`` scores -> each row's
    ``softmax(scores / T)``, excluded items (bool ``[b, n]``, True = exclude) at probability 0."""
    for name, scores, temperature, exclude, hint in SOFT_CASES:
        scores = torch.tensor(scores)
        exclude = None if exclude is None else torch.tensor(exclude)
        expected = _soft(scores, temperature, exclude)
        arguments = (scores.clone(), temperature) + (() if exclude is None else (exclude.clone(),))
        call = f"{_name(fn)}(scores={_short(scores)}, temperature={temperature}" + (
            ")" if exclude is None else f", exclude={exclude.int().tolist()})")
        result = fn(*arguments)
        problem = _diagnose_soft(result, expected, scores, temperature, exclude)
        if not problem and not all(torch.equal(a, b) for a, b in zip(arguments[::2], (scores, exclude))):
            problem = ("it changed its input in place (e.g. masked_fill_ or /=), so the caller's scores are "
                       "modified: use the out-of-place versions (masked_fill, /).")
        if problem:
            raise _case_error(name, call, problem, hint)
    _correct(_name(fn), "torch.softmax (excluded items masked)",
             [case[0] for case in SOFT_CASES])


# ----------------------------------------------------------------------------------------------------------
# Exercise 1.2: Hinton's loss T² · KL(softmax(teacher / T) ‖ softmax(student / T)), batchmean


def _entropy(logits, temperature):
    """Entropy of each row of ``softmax(logits / T)``: float ``[b]``."""
    return torch.special.entr(torch.softmax(logits / temperature, dim=1)).sum(dim=1)


# Each mistake is a change to how tinyrec.distill.kd_loss is called or its result used: (option, diagnosis).
KD_TEMPERATURE = {  # where T is missing -> (student, teacher) logits that make kd_loss use T = 1 there
    "student": (lambda s, t, T: (s * T, t),
                "No temperature on the student's side: its distribution must be taken at the same T as the "
                "teacher's, log_softmax(student_logits / T)."),
    "teacher": (lambda s, t, T: (s, t * T),
                "No temperature on the teacher's side: the soft targets are softmax(teacher_logits / T)."),
    "both": (lambda s, t, T: (s * T, t * T),
             "No temperature at all: divide both the student's and the teacher's logits by T."),
}
KD_REVERSED = ("KL in the reverse direction, KL(q_student ‖ p_teacher). Distillation takes the expectation "
               "under the teacher's soft targets: KL(p ‖ q) = Σ p (log p − log q). With F.kl_div(input, "
               "target), input is the student's log-probabilities and target the teacher's probabilities.")
KD_CROSS_ENTROPY = ("Cross-entropy with soft targets, −Σ p log q, instead of the KL divergence: the gradient "
                    "is the same, but it exceeds the KL by the teacher's entropy, so it is not 0 when the "
                    "student equals the teacher. Use Σ p (log p − log q).")
KD_NO_T2 = ("Missing the T² factor: multiply by T**2. The KL term's gradients shrink like 1/T² as T grows; "
            "T² restores their scale, so that changing T does not silently re-weight the soft term.")
KD_REDUCTION = {
    "sum": ("Reduction 'sum': summed over the rows of the batch, so the loss grows with the batch size. "
            "Sum over the classes, then take the mean over the rows ('batchmean')."),
    "mean": ("Reduction 'mean' over all elements (F.kl_div's default, reduction='mean', divides by "
             "rows × classes). KL sums over the classes and averages over the rows: reduction='batchmean'."),
}
KD_RAW_LOGITS = (
    "Raw teacher logits used as targets — the source document's mistake. F.cross_entropy (and "
    "nn.CrossEntropyLoss) accepts float targets only as class *probabilities*; logits can be negative and "
    "do not sum to 1, so this is not a divergence from anything, and a student equal to the teacher does "
    "not minimise it. The target is softmax(teacher_logits / T), and the loss T² · KL(p ‖ q).")
KD_PROBABILITIES_AS_INPUT = (
    "F.kl_div(input, target) expects the student's *log*-probabilities as input: you passed probabilities "
    "(softmax instead of log_softmax), so it computed Σ p (log p − q).")


def _kd_variant(temperature_missing=None, reversed_kl=False, cross_entropy=False, t2=True, reduction="batchmean"):
    """``fn(s, t, T)``: ``tinyrec.distill.kd_loss`` with the given mistakes (the defaults make none)."""
    def loss(s, t, T):
        if temperature_missing:
            s, t = KD_TEMPERATURE[temperature_missing][0](s, t, T)
        target, other = (s, t) if reversed_kl else (t, s)
        rows = distill.kd_loss(other, target, T, reduction="none")
        if cross_entropy:
            rows = rows + T ** 2 * _entropy(target, T)
        rows = rows if t2 else rows / T ** 2
        return {"batchmean": rows.mean(), "sum": rows.sum(), "mean": rows.sum() / s.numel()}[reduction]
    return loss


def _kd_mistakes():
    """Every combination of the known mistakes, fewest first: ``[(fn(s, t, T), diagnosis)]``."""
    combos = []
    for temperature_missing, reversed_kl, cross_entropy, t2, reduction in itertools.product(
            [None, *KD_TEMPERATURE], [False, True], [False, True], [True, False], ["batchmean", *KD_REDUCTION]):
        diagnoses = [KD_TEMPERATURE[temperature_missing][1] if temperature_missing else None,
                     KD_REVERSED if reversed_kl else None, KD_CROSS_ENTROPY if cross_entropy else None,
                     None if t2 else KD_NO_T2, KD_REDUCTION.get(reduction)]
        diagnoses = [d for d in diagnoses if d]
        if diagnoses:
            text = diagnoses[0] if len(diagnoses) == 1 else f"{len(diagnoses)} mistakes:\n" + "\n".join(
                f"({i}) {d}" for i, d in enumerate(diagnoses, start=1))
            combos.append((len(diagnoses), _kd_variant(temperature_missing, reversed_kl, cross_entropy, t2,
                                                       reduction), text))
    combos.sort(key=lambda combo: combo[0])  # stable: the order of the axes breaks ties
    raw = [(lambda s, t, T, a=a, b=b, f=f, r=r: f(T) * F.cross_entropy(a(s, T), b(t, T), reduction=r),
            KD_RAW_LOGITS)
           for a, b in itertools.product([lambda x, T: x, lambda x, T: x / T], repeat=2)
           for f in (lambda T: 1.0, lambda T: T ** 2) for r in ("mean", "sum")]
    as_input = [(lambda s, t, T, f=f: f(T) * F.kl_div(torch.softmax(s / T, 1), torch.softmax(t / T, 1),
                                                      reduction="batchmean"), KD_PROBABILITIES_AS_INPUT)
                for f in (lambda T: T ** 2, lambda T: 1.0)]
    return raw + as_input + [(fn, text) for _, fn, text in combos]


KD_MISTAKES = _kd_mistakes()
_generator = torch.Generator().manual_seed(0)
_SAME = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 0.0, 4.0, -1.0]])
# (name, student logits, teacher logits, T, hint)
KD_CASES = [
    ("3 examples, 5 classes, T = 2", 2 * torch.randn(3, 5, generator=_generator),
     2 * torch.randn(3, 5, generator=_generator), 2.0,
     "loss = T² · Σ_i p_i (log p_i − log q_i), with p = softmax(teacher / T), q = softmax(student / T), "
     "summed over the 5 classes and averaged over the 3 rows."),
    ("a student equal to the teacher, T = 4", _SAME, _SAME.clone(), 4.0,
     "KL(p ‖ p) = 0: a student that already matches the teacher has nothing left to learn."),
    ("EASE-scale scores, 4 users, 30 items, T = 0.05", 0.6 * torch.rand(4, 30, generator=_generator),
     0.6 * torch.rand(4, 30, generator=_generator) - 0.05, 0.05,
     "With T = 0.05 the logits / T reach 12: the same formula, no special case."),
    ("large logits, T = 1", torch.tensor([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]]),
     torch.tensor([[0.0, 1000.0, 990.0], [0.0, 2.0, 1.0]]), 1.0,
     "softmax(z) underflows to exactly 0 for far-off classes, and log(0) = -inf: take log_softmax directly."),
]


def _diagnose_kd(result, expected, s, t, T):
    if isinstance(result, torch.Tensor) and result.numel() == s.shape[0] and result.dim() == 1:
        return ("it returned one value per row (shape [b]): reduce to a scalar, the mean over rows "
                "('batchmean').")
    problem = _not_a_tensor(result, ())
    if problem:
        return problem
    if not torch.isfinite(result):
        return (f"it returned {result.item()}: log(softmax(x)) underflows to log(0) = -inf for far-off "
                "classes. Use F.log_softmax, which computes log-probabilities without forming them.")
    if _same(result, expected):
        return None
    return (_which_mistake(result, KD_MISTAKES, s, t, T)
            or f"expected {expected.item():.6f}, got {result.item():.6f}.")


def check_kd_loss(fn):
    """Check ``fn(student_logits, teacher_logits, T) -> scalar tensor`` against ``tinyrec.distill.kd_loss``
    (``"batchmean"``), then that the gradient reaches the student and never the teacher."""
    for name, s, t, T, hint in KD_CASES:
        expected = distill.kd_loss(s, t, T)
        call = f"{_name(fn)}(student_logits={_short(s)}, teacher_logits={_short(t)}, T={T})"
        problem = _diagnose_kd(fn(s.clone(), t.clone(), T), expected, s, t, T)
        if problem:
            raise _case_error(name, call, problem, hint)
    name, s, t, T, hint = KD_CASES[0]
    student, teacher = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    loss = fn(student, teacher, T)
    call = f"{_name(fn)}(student_logits, teacher_logits, T={T}) with both requiring gradients"
    if not loss.requires_grad:
        raise _case_error(name, call, "the loss does not depend on the student's logits through autograd: no "
                          "gradient would train the student. Do not detach the student's side.", hint)
    to_student, to_teacher = torch.autograd.grad(loss, [student, teacher], allow_unused=True)
    if to_teacher is not None and to_teacher.abs().max() > 0:
        raise _case_error(name, call, (
            "gradient flows into the teacher's logits — the source document's mistake (its teacher runs with "
            "gradients, outside eval() and no_grad()). The teacher is fixed: use teacher_logits.detach() "
            "inside the loss, and compute the logits under torch.no_grad() with the teacher in eval() mode."),
            hint)
    student_ref = s.clone().requires_grad_(True)
    reference, = torch.autograd.grad(distill.kd_loss(student_ref, t, T), [student_ref])
    if to_student is None or not _same(to_student, reference):
        raise _case_error(name, call, "the value is right but the gradient with respect to the student's "
                          "logits is not: part of the student's side is detached.", hint)
    _correct(_name(fn), "tinyrec.distill.kd_loss", [case[0] for case in KD_CASES]
             + ["the gradient reaches the student, and not the teacher"])


# ----------------------------------------------------------------------------------------------------------
# Exercise 1.3: Ranking Distillation, w_r ∝ exp(−r/λ) for r = 1..K and −Σ_r w_r log σ(s_{u,π_r})


def _exp_weights(k, lam, first=1):
    """``exp(−r/λ)`` for ``r = first .. first + k − 1``, not normalised."""
    return torch.exp(-torch.arange(first, first + k, dtype=torch.float32) / lam)


WEIGHT_MISTAKES = [  # (what fn(k, lam) returns with this mistake, the diagnosis)
    (lambda k, lam: _exp_weights(k, lam),
     "Not normalised: exp(−r/λ) is proportional to the weight. Divide by Σ_{r=1..K} exp(−r/λ), so that "
     "the weights sum to 1 and λ changes their shape, not the size of the loss."),
    (lambda k, lam: _exp_weights(k, lam, first=0),
     "Not normalised, and ranks counted from 0. The book counts ranks r = 1..K (the teacher's best item "
     "has r = 1, so it gets exp(−1/λ), not exp(0) = 1), e.g. torch.arange(1, k + 1). Once the weights are "
     "normalised the convention cancels out (the common factor exp(−1/λ) divides away), so normalise them."),
    (lambda k, lam: distill.rank_weights(k, lam).flip(0),
     "The weights increase with the rank: w_r ∝ exp(−r/λ), with a minus sign, so the teacher's first item "
     "weighs most."),
    (lambda k, lam: distill.rank_weights(k, 1 / lam),
     "exp(−r·λ) instead of exp(−r/λ): λ is a length in ranks (a larger λ gives flatter weights); divide by it."),
    (lambda k, lam: torch.full((k,), 1 / k),
     "Uniform weights 1/K: Ranking Distillation weighs the teacher's top items most, w_r ∝ exp(−r/λ)."),
]
# (name, k, lam, hint)
WEIGHT_CASES = [
    ("K = 5, λ = 2", 5, 2.0, "w = exp(−[1, 2, 3, 4, 5] / 2) / Σ exp(−r / 2) = [0.43, 0.26, 0.16, 0.10, 0.06]."),
    ("K = 10, λ = 5", 10, 5.0, "Ranks r = 1..10; the weights decrease and sum to 1."),
    ("K = 3, λ = 0.5", 3, 0.5, "A small λ puts almost all the weight on the teacher's best item."),
]


def _rd_reference(s, t, k, lam, weights=None, top_of=None):
    """``tinyrec.distill.ranking_distillation_loss`` over the top-K of ``top_of`` (the teacher by default)."""
    items = distill.teacher_top_k(t if top_of is None else top_of, k)
    return distill.ranking_distillation_loss(s, items, distill.rank_weights(k, lam) if weights is None
                                             else weights)


RD_MISTAKES = [  # (what fn(student_scores, teacher_scores, k, lam) returns with this mistake, the diagnosis)
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, top_of=s),
     "It used the *student's* top-K items. Ranking Distillation hands over the *teacher's* top-K: "
     "π = torch.topk(teacher_scores, k).indices, and the student's scores at those items."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam) * len(s),
     "Summed over users instead of averaged: the loss must not grow with the number of users; .mean() over "
     "users after summing over the K ranks."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam) / k,
     "Averaged over the K ranks as well as the users: the ranks are *summed*, −Σ_r w_r log σ(s_{u,π_r}) "
     "(the weights already sum to 1), then averaged over users."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=_exp_weights(k, lam)),
     "The position weights are not normalised: w_r = exp(−r/λ) / Σ_{r'=1..K} exp(−r'/λ)."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=distill.rank_weights(k, lam).flip(0)),
     "The weights went to the teacher's items in reverse order: π must be the teacher's top-K *best first* "
     "(torch.topk(..., k) or argsort(descending=True)), so that w_1, the largest weight, goes to its best item."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=torch.ones(k)),
     "No position weights: each of the teacher's top-K items must be weighted by w_r."),
    (lambda s, t, k, lam: -_rd_reference(s, t, k, lam),
     "The sign is wrong: the loss is −Σ_r w_r log σ(s): log σ ≤ 0, so the loss is ≥ 0 and falls as the "
     "student scores the teacher's items higher."),
    (lambda s, t, k, lam: -(distill.rank_weights(k, lam) * torch.sigmoid(s.gather(1, distill.teacher_top_k(t, k))))
     .sum(dim=1).mean(),
     "σ(s) without the log: the loss is −Σ_r w_r log σ(s_{u,π_r}) (use F.logsigmoid)."),
]
LOG_SIGMOID = ("log(sigmoid(x)) for a very negative score: sigmoid(−1000) underflows to 0 and log(0) = −inf. "
               "Use F.logsigmoid(x), which computes log σ(x) = −softplus(−x) without forming σ(x): "
               "log σ(−1000) = −1000.")
_generator = torch.Generator().manual_seed(1)
_FAR_OFF = torch.tensor([[-1000.0, 0.5, 0.2, 0.1, 2.0, 0.0], [1.0, 2.0, -3.0, 0.0, 0.4, 0.3]])
# (name, student scores, teacher scores, k, lam, hint)
RD_CASES = [
    ("2 users, 8 items, K = 3, λ = 2", torch.randn(2, 8, generator=_generator),
     torch.randn(2, 8, generator=_generator), 3, 2.0,
     "For each user: π = the teacher's 3 best items, best first; loss = −Σ_r w_r log σ(s_{u,π_r}); "
     "then the mean over the 2 users."),
    ("the student ranks the teacher's favourites last, K = 2, λ = 1",
     torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]), torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]]), 2, 1.0,
     "The teacher's top 2 are items 0 and 1, which the student scores 0 and 1: loss = −w_1 log σ(0) − "
     "w_2 log σ(1)."),
    ("a student far off: score −1000 on the teacher's best item, K = 3, λ = 2", _FAR_OFF,
     torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0, -2.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]), 3, 2.0,
     "log σ(−1000) = −1000: the loss is large but finite."),
    ("EASE-scale teacher, 4 users, 40 items, K = 10, λ = 5", torch.randn(4, 40, generator=_generator),
     0.6 * torch.rand(4, 40, generator=_generator), 10, 5.0,
     "The same formula with K = 10 ranks."),
]


def check_ranking_distillation(position_weights, rd_loss):
    """Check ``position_weights(k, lam) -> [k]`` against ``tinyrec.distill.rank_weights``, then
    ``rd_loss(student_scores, teacher_scores, k, lam) -> scalar`` against
    ``tinyrec.distill.ranking_distillation_loss`` over ``tinyrec.distill.teacher_top_k``."""
    for name, k, lam, hint in WEIGHT_CASES:
        expected = distill.rank_weights(k, lam)
        result = position_weights(k, lam)
        problem = _not_a_tensor(result, (k,))
        if problem and isinstance(result, torch.Tensor) and result.dim() == 1:
            problem += (f" There are K = {k} ranks, r = 1..K, one weight each: torch.arange(1, k + 1) "
                        "(torch.arange(k) gives 0..K−1, torch.arange(k + 1) gives K + 1 ranks).")
        if not problem and not _same(result, expected):
            problem = (_which_mistake(result, WEIGHT_MISTAKES, k, lam)
                       or f"expected {_short(expected)}, got {_short(result)}.")
        if problem:
            raise _case_error(name, f"{_name(position_weights)}(k={k}, lam={lam})", problem, hint)
    for name, s, t, k, lam, hint in RD_CASES:
        expected = _rd_reference(s, t, k, lam)
        result = rd_loss(s.clone(), t.clone(), k, lam)
        problem = _not_a_tensor(result, ())
        if not problem and not torch.isfinite(result):
            problem = f"it returned {result.item()}. {LOG_SIGMOID}"
        if not problem and not _same(result, expected):
            problem = (_which_mistake(result, RD_MISTAKES, s, t, k, lam)
                       or f"expected {expected.item():.6f}, got {result.item():.6f}.")
        if problem:
            call = (f"{_name(rd_loss)}(student_scores={_short(s)}, teacher_scores={_short(t)}, k={k}, "
                    f"lam={lam})")
            raise _case_error(name, call, problem, hint)
    _correct(f"{_name(position_weights)} and {_name(rd_loss)}",
             "tinyrec.distill.rank_weights and ranking_distillation_loss",
             [case[0] for case in WEIGHT_CASES + RD_CASES])


# ----------------------------------------------------------------------------------------------------------
# Exercise 1.4: choosing the temperature on the validation users

NEARLY_UNIFORM = 0.95  # a soft target spread over more than this share of a user's unseen items
METRICS = ("ndcg", "recall", "hit", "mrr")


def _effective_items(teacher_scores, seen, temperature):
    """Per user: ``e^H`` of ``softmax(teacher / T)`` over the unseen items, and the number of those items."""
    log_p = torch.log_softmax((teacher_scores / temperature).masked_fill(seen, float("-inf")), dim=1)
    entropy = torch.special.entr(log_p.exp()).sum(dim=1)
    return entropy.exp(), (~seen).sum(dim=1)


def _diagnose_validation_fn(validation_ndcg, split):
    """What is wrong with ``validation_ndcg(model)``, tried on a popularity model, or None; and its value."""
    from tinyrec import evaluate, metrics, models

    probe = models.Popularity(split.n_items).fit(split.matrix("train"))
    valid = evaluate.evaluate(probe, split, "valid")["ndcg@10"]
    got = validation_ndcg(probe)
    if isinstance(got, dict):
        return (f"it returned a dict ({sorted(got)}): return the number, evaluate(...)['ndcg@10'].", valid)
    try:
        got = float(got)
    except (TypeError, ValueError):
        return f"it returned {got!r}: return the validation NDCG@10 as a float.", valid
    if _same(got, valid, rtol=1e-5, atol=1e-7):
        return None, valid
    if _same(got, evaluate.evaluate(probe, split, "test")["ndcg@10"], rtol=1e-5, atol=1e-7):
        return (f"it measures the *test* items: on a popularity model it returned {got:.4f}, its test NDCG@10, "
                f"while its validation NDCG@10 is {valid:.4f}. Choosing T by test NDCG@10 tunes the model on "
                "the test set, and the test number you then report is optimistic. Choose on 'valid'; "
                "evaluate on 'test' once, after every choice is made.", valid)
    for part, k, metric in itertools.product(("valid", "test"), (10, 5, 20), METRICS):
        if _same(got, evaluate.evaluate(probe, split, part, k)[f"{metric}@{k}"], rtol=1e-5, atol=1e-7):
            return (f"it returned {metric}@{k} on '{part}' ({got:.4f}), not NDCG@10 on 'valid' ({valid:.4f}).",
                    valid)
    scores = evaluate.score_all(probe, split)
    if _same(got, metrics.ndcg_at_k(scores, split.mask("valid"), 10).mean().item(), rtol=1e-5, atol=1e-7):
        return ("it ranks the users' training items too: they must be excluded before ranking (they are "
                "never recommended). evaluate.evaluate(model, split, 'valid') does it.", valid)
    return (f"on a popularity model it returned {got:.4f}; evaluate.evaluate(model, split, 'valid')"
            f"['ndcg@10'] gives {valid:.4f}.", valid)


def check_temperature_choice(results, best_T, validation_ndcg, split):
    """Check Exercise 1.4: ``results`` maps each temperature tried to the distilled student's validation
    NDCG@10, ``best_T`` is its argmax, ``validation_ndcg(model)`` measures NDCG@10 on ``split``'s
    validation items (tried on a popularity model), and ``best_T`` suits the EASE teacher's score scale."""
    from tinyrec import evaluate, models, train

    def fail(problem, hint):
        raise AssertionError(f"{problem}\nHint: {hint}")

    if not isinstance(results, dict) or len(results) < 3:
        fail(f"results must be a dict {{temperature: validation NDCG@10}} with at least 3 temperatures, got "
             f"{results!r}.", "results = {T: validation_ndcg(train_student(T)) for T in temperatures}")
    clean = {}
    for T, value in results.items():
        if isinstance(T, bool) or not isinstance(T, numbers.Real) or not math.isfinite(T) or T <= 0:
            fail(f"the key {T!r} is not a temperature: keys must be numbers > 0.", "Use the temperatures as keys.")
        try:
            clean[T] = float(value)
        except (TypeError, ValueError):
            fail(f"results[{T}] = {value!r} is not a number.", "Store validation_ndcg(model), a float.")
    problem, popularity = _diagnose_validation_fn(validation_ndcg, split)
    if problem:
        fail(f"{_name(validation_ndcg)}(model): {problem}",
             "validation_ndcg(model) = evaluate.evaluate(model, split, 'valid')['ndcg@10'].")
    teacher = train.trained_ease(split)
    ceiling = evaluate.evaluate(teacher, split, "valid")["ndcg@10"] + 0.02
    for T, value in clean.items():
        if not popularity <= value <= ceiling:
            fail(f"results[{T:g}] = {value:.4f} is outside the plausible range [{popularity:.3f}, {ceiling:.3f}]: "
                 f"from the NDCG@10 of recommending the most popular movies to everyone ({popularity:.3f}) to "
                 f"just above the EASE teacher's ({ceiling - 0.02:.3f}), both on the validation items.",
                 "Below popularity the student is barely trained (learning rate, epochs) or learns a wrong "
                 "target; above the teacher, the number is probably not a validation NDCG@10.")
    if max(clean.values()) - min(clean.values()) < 1e-9:
        fail(f"every temperature gives the same NDCG@10 ({next(iter(clean.values())):.4f}): the temperature "
             "does not reach the training.", "Pass temperature=T to tinyrec.distill.student_objective.")
    best = max(clean, key=clean.get)
    if best_T not in clean:
        fail(f"best_T = {best_T!r} is not one of the temperatures you tried ({', '.join(f'{T:g}' for T in clean)}).",
             "best_T = max(results, key=results.get)")
    if best_T != best:
        fail(f"best_T = {best_T:g} has validation NDCG@10 {clean[best_T]:.4f}, but T = {best:g} has {clean[best]:.4f}: "
             "choose the temperature with the highest validation NDCG@10.", "best_T = max(results, key=results.get)")
    scores, seen = evaluate.score_all(teacher, split), split.mask("train")
    effective = {T: _effective_items(scores, seen, T) for T in clean}
    n_eff, n_unseen = effective[best_T]
    share = (n_eff / n_unseen).median().item()
    if share > NEARLY_UNIFORM:
        top = scores.masked_fill(seen, float("-inf")).max(dim=1).values
        middle = scores.masked_fill(seen, float("nan")).nanmedian(dim=1).values
        fail(f"T = {best_T:g} is far above the scale of the EASE teacher's scores: for the median user, its best "
             f"unseen movie scores only {(top - middle).median().item():.2f} above the median one. At T = {best_T:g}, "
             f"exp(z / T) ≈ 1 + z / T for every movie, so the soft target is nearly uniform: it spreads over "
             f"e^H = {n_eff.median().item():,.0f} of the user's {n_unseen.median().item():,} unseen movies "
             f"({share:.1%}), and the teacher's ranking is all but erased. Such a target still pulls the student's "
             "own softmax towards uniform — a regulariser, like label smoothing — which can raise validation "
             "NDCG@10 without passing on anything the teacher knows.",
             "Sweep temperatures on the scale of the teacher's score gaps (about 0.01 to 0.2) and choose among "
             "those; the effective number of movies e^H tells you how peaked each target is.")
    lines = [f"  T = {T:<6g} validation NDCG@10 = {value:.4f}   e^H = {effective[T][0].median().item():7,.1f} movies"
             f"{'   ← chosen' if T == best_T else ''}" for T, value in clean.items()]
    print(f"Correct! T = {best_T:g} has the highest NDCG@10 on the validation items (never the test items), "
          "and its soft target is not nearly uniform. e^H, the effective number of movies the soft target "
          "spreads over, is for the median user:", *lines, sep="\n")
