"""Exercise 1.1 (``01_exercise_control``): the uniform-teacher control of a distillation claim.

:func:`check_constant_teacher` checks the learner's constant "teacher" (the shape of the real teacher's
scores, one score per row, no gradient, the real scores left untouched) and their soft target
``softmax(scores / T)`` over each user's unseen items, which for the constant teacher is uniform over those
items (compared with ``torch.softmax``, seen items masked); it names the seen items left in or zeroed after
the softmax, the temperature left out or multiplied, the wrong dimension, log-probabilities, the mask
inverted. :func:`check_control_results` checks the three students' validation numbers: each is the
student's NDCG@10 on the validation items (:func:`tinyrec.exercises._core.measurement_of` names what it is
otherwise), the three students have the same size and differ, and the one called "listwise KD" agrees
with the teacher more than the control does.
"""

import math
import numbers

import torch
from torch import nn

from tinyrec import evaluate, metrics
from tinyrec.exercises._core import (case_error, fn_name, measurement_of, not_a_tensor, same, short,
                                     which_mistake)

__all__ = ["check_constant_teacher", "check_control_results"]

NAMES = ("listwise KD", "constant teacher", "no KD")


def _soft(scores, seen, temperature, dim=1):
    """``softmax(scores / T)`` along ``dim`` with the ``seen`` items at probability 0 (``torch.softmax``)."""
    z = scores / temperature
    return torch.softmax(z if seen is None else z.masked_fill(seen, float("-inf")), dim=dim)


SOFT_MISTAKES = [  # (what soft_target(scores, seen, T) returns with this mistake, the diagnosis)
    (lambda s, seen, T: _soft(s, None, T),
     "The seen items kept their probability: the softmax ran over the whole catalogue. A user's training "
     "items are never recommended, so the target must put nothing on them: set their scores to -inf before "
     "the softmax, scores.masked_fill(seen, float('-inf')). For the constant teacher this is uniform over "
     "all n_items items instead of over the user's unseen ones."),
    (lambda s, seen, T: _soft(s, None, T) * (~seen).float(),
     "The seen items were set to 0 *after* the softmax, so each row sums to less than 1: mask them to -inf "
     "*before* the softmax (exp(-inf) = 0), and the unseen items share all the probability."),
    (lambda s, seen, T: _soft(s, ~seen, T),
     "The mask is inverted: the target is spread over the seen items and is 0 on the unseen ones. seen is "
     "True for the user's training items, the ones to leave out: masked_fill(seen, float('-inf'))."),
    (lambda s, seen, T: _soft(s, seen, 1.0),
     "The scores were not divided by the temperature: softmax(scores / T), not softmax(scores)."),
    (lambda s, seen, T: _soft(s * T * T, seen, T),
     "The scores were multiplied by the temperature instead of divided: softmax(scores / T)."),
    (lambda s, seen, T: _soft(s, seen, T, dim=0),
     "Normalised over the wrong dimension: each column (item) sums to 1 over the users. A row is one user's "
     "target over the items: dim=1."),
    (lambda s, seen, T: torch.log_softmax((s / T).masked_fill(seen, float("-inf")), dim=1),
     "It returned log-probabilities (log_softmax): return the probabilities."),
]
# (name, scores, seen, T, hint)
SOFT_CASES = [
    ("two users, five items, two seen and one seen, T = 0.5",
     [[1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 0.0, -0.5, 1.0, 0.0]],
     [[False, False, True, False, True], [True, False, False, False, False]], 0.5,
     "Row 1: softmax([1, 2, 4] / 0.5) over items 0, 1, 3, and exactly 0 on the seen items 2 and 4."),
    ("EASE-like scores, the seen items scored highest, T = 0.05",
     [[0.61, 0.02, 0.18, -0.04, 0.25, 0.11], [0.05, 0.42, 0.40, 0.01, 0.0, 0.22]],
     [[True, False, False, False, False, False], [False, True, True, False, False, False]], 0.05,
     "EASE scores the items a user has seen highest: left in, they would take most of the target."),
    ("a constant teacher, T = 0.05", [[0.0] * 6, [0.0] * 6],
     [[True, False, False, False, False, False], [False, True, True, False, False, True]], 0.05,
     "Every unseen item gets the same score: the target is 1/5 on user 0's unseen items, 1/3 on user 1's."),
]


def _check_constant(constant_teacher, teacher_scores):
    """Run ``constant_teacher`` on the real scores, then on scores that require grad; raise when wrong."""
    hint = ("torch.zeros_like(teacher_scores) (or torch.full_like) gives every item the same score, has the "
            "same shape, dtype and device, and does not require grad.")
    small = torch.tensor([[0.3, 0.1, 0.5, -0.2, 0.0], [0.05, 0.4, 0.1, 0.2, 0.3]], requires_grad=True)
    for name, scores in (("the EASE teacher's scores", teacher_scores),
                         ("scores that still require grad (a teacher run outside no_grad)", small)):
        before = scores.detach().clone()
        call = f"{fn_name(constant_teacher)}(teacher_scores of shape {list(scores.shape)})"
        result = constant_teacher(scores)
        problem = not_a_tensor(result, scores.shape)
        if not problem and not torch.equal(scores.detach(), before):
            problem = ("it changed teacher_scores in place (fill_, zero_, *= 0, ...): the real teacher's scores "
                       "are gone too, and the 'listwise KD' student would learn from the constant teacher. "
                       "Return a new tensor.")
        if not problem and not torch.isfinite(result).all():
            problem = ("it returned non-finite scores: with -inf or nan everywhere, softmax(scores / T) is "
                       "nan (-inf - (-inf) is nan). Any finite constant works.")
        if not problem and result.requires_grad:
            problem = ("the constant teacher's scores require grad: a teacher is frozen, and these still hang "
                       "on the graph of the scores they were computed from (e.g. teacher_scores * 0). "
                       "Build them without gradient (torch.zeros_like) or .detach() them.")
        if not problem:
            rows = result.detach()
            varying = (rows != rows[:, :1]).any(dim=1)
            if varying.any():
                user = int(varying.nonzero()[0])
                problem = (f"it is not constant over the items: row {user} (one user) holds {short(rows[user][:6])}"
                           f"{' ...' if rows.shape[1] > 6 else ''}. A teacher whose scores differ between items "
                           "ranks them, so it still knows something (even a per-item constant is a popularity "
                           "ranking); the control must rank nothing: one score for all of a user's items.")
        if problem:
            raise case_error(name, call, problem, hint)


def _check_soft(soft_target, constant, seen, temperature):
    """Run ``soft_target`` on the hand-made cases, then on the constant teacher's real scores."""
    cases = [(n, torch.tensor(s), torch.tensor(m), T, h) for n, s, m, T, h in SOFT_CASES]
    cases.append(("the constant teacher on MovieLens, the chosen T", constant, seen, temperature,
                  "Each user's target is 1 / (number of unseen items) on every unseen item, 0 on the seen ones."))
    for name, scores, mask, T, hint in cases:
        expected = _soft(scores, mask, T)
        call = (f"{fn_name(soft_target)}(scores={short(scores)}, seen={mask.int().tolist()}, T={T})"
                if scores.numel() <= 12 else f"{fn_name(soft_target)}(constant_scores, seen, T={T})")
        result = soft_target(scores.clone(), mask.clone(), T)
        problem = not_a_tensor(result, scores.shape)
        if not problem and not torch.isfinite(result).all() and not (result.detach() == float("-inf")).any():
            problem = f"it returned non-finite values: {short(result[:2, :6])}."
        if not problem and not same(result, expected):
            problem = which_mistake(result, SOFT_MISTAKES, scores, mask, T)
        if not problem and not same(result, expected):
            sums = result.detach().sum(dim=1)
            problem = (f"its rows sum to {short(sums[:4])}, not 1: each row is a probability distribution. "
                       if not same(sums, torch.ones_like(sums)) else "") + (
                f"Expected {short(expected[:2, :6])}, got {short(result[:2, :6])} (first rows and items).")
        if problem:
            raise case_error(name, call, problem, hint)
    return [case[0] for case in cases]


def check_constant_teacher(constant_teacher, soft_target, teacher_scores, seen, temperature):
    """Check ``constant_teacher(teacher_scores) -> scores`` (same shape, one value per row, no gradient,
    the input untouched) and ``soft_target(scores, seen, T) -> probabilities`` (``softmax(scores / T)``
    over each row's unseen items), on hand-made cases and on the real ``teacher_scores`` and ``seen``."""
    _check_constant(constant_teacher, teacher_scores)
    cases = _check_soft(soft_target, constant_teacher(teacher_scores), seen, temperature)
    unseen = (~seen).sum(dim=1)
    print(f"Correct! {fn_name(constant_teacher)} gives every item the same score, without gradient, and "
          f"{fn_name(soft_target)} agrees with torch.softmax (seen items masked) on:",
          *(f"  ✓ {case}" for case in cases),
          f"For the constant teacher, each user's target is uniform over their unseen items: "
          f"1/{int(unseen.max())} to 1/{int(unseen.min())} per item (median user: 1/{int(unseen.median())}).",
          sep="\n")


def _fidelity(model, teacher_top, seen, split):
    """Share of each user's top 10 (validation ranking) that is in the teacher's top 10, mean over users."""
    top = evaluate.score_all(model, split).masked_fill(seen, float("-inf")).topk(10, dim=1).indices
    return (top[:, :, None] == teacher_top[:, None, :]).any(dim=2).float().mean().item()


def _fail(problem, hint):
    raise AssertionError(f"{problem}\nHint: {hint}")


def _check_shapes(students, results):
    names = ", ".join(repr(n) for n in NAMES)
    for what, given in (("students", students), ("results", results)):
        if not isinstance(given, dict) or set(given) != set(NAMES):
            got = sorted(given) if isinstance(given, dict) else type(given).__name__
            _fail(f"{what} must be a dict with the keys {names}; got {got}.",
                  f"{what} = {{'listwise KD': ..., 'constant teacher': ..., 'no KD': ...}}")
    for name in NAMES:
        model = students[name]
        if not isinstance(model, nn.Module) or not hasattr(model, "item"):
            _fail(f"students[{name!r}] is a {type(model).__name__}, not a trained BPR-MF model: train_bpr returns "
                  "(model, history); keep the model.", "model, history = train.train_bpr(...)")
        value = results[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            _fail(f"results[{name!r}] = {value!r} is not a number.", "Store the validation NDCG@10, a float.")
    sizes = {name: tuple(students[name].item.weight.shape) for name in NAMES}
    if len(set(sizes.values())) > 1:
        _fail(f"the three students differ in size ({sizes}): a control must change only the teacher.",
              "Build every student with models.BPRMF(split.n_users, split.n_items, DIM).")
    for i, a in enumerate(NAMES):
        for b in NAMES[:i]:
            if students[a] is students[b]:
                _fail(f"students[{a!r}] and students[{b!r}] are the same model object: each student must be "
                      "trained from a fresh BPRMF.", "Build a new model inside the training function.")


def check_control_results(students, results, split, teacher):
    """Check Exercise 1.1's runs: ``students`` and ``results`` map "listwise KD", "constant teacher" and
    "no KD" to the trained BPR-MF models and to their NDCG@10 on ``split``'s validation items; the students
    have the same size and differ; the distilled one agrees with ``teacher`` (EASE) more than the control.
    Prints the three numbers and each student's top-10 agreement with the teacher."""
    _check_shapes(students, results)
    for name in NAMES:
        got, model = float(results[name]), students[name]
        found = measurement_of(got, model, split)
        valid = evaluate.evaluate(model, split, "valid")["ndcg@10"]
        if found == "test":
            _fail(f"results[{name!r}] = {got:.4f} is the student's *test* NDCG@10; on the validation items it has "
                  f"{valid:.4f}. A comparison that decides what to conclude (or what to try next) is made on "
                  "validation; the test items stay untouched until the final report.",
                  "evaluate.evaluate(model, split, 'valid')['ndcg@10']")
        if found == "training items":
            _fail(f"results[{name!r}] = {got:.4f} ranks the users' training items too; with them excluded the "
                  f"student has {valid:.4f}.", "evaluate.evaluate(model, split, 'valid') excludes them.")
        if found is not None:
            what = f"the student's {found}" if found != "unknown" else "not the student's validation NDCG@10"
            _fail(f"results[{name!r}] = {got:.4f} is {what}; its NDCG@10 on the validation items is {valid:.4f}.",
                  "evaluate.evaluate(model, split, 'valid')['ndcg@10']")
    for a, b, why in (("listwise KD", "constant teacher",
                       "did both students learn from the same scores? A constant_teacher that changes "
                       "teacher_scores in place, or a training function that ignores its scores, does that."),
                      ("listwise KD", "no KD", "the distillation term did not reach the training: pass "
                       "extra_loss=... and alpha=ALPHA to train_bpr."),
                      ("constant teacher", "no KD", "the distillation term did not reach the training: pass "
                       "extra_loss=... and alpha=ALPHA to train_bpr.")):
        if same(results[a], results[b], rtol=0, atol=1e-9):
            _fail(f"results[{a!r}] and results[{b!r}] are equal ({results[a]:.6f}): {why}",
                  "Train the three students with the same settings, changing only the teacher.")
    seen = split.mask("train")
    teacher_top = evaluate.score_all(teacher, split).masked_fill(seen, float("-inf")).topk(10, dim=1).indices
    agree = {name: _fidelity(students[name], teacher_top, seen, split) for name in NAMES}
    if agree["listwise KD"] <= agree["constant teacher"]:
        _fail(f"the student called 'listwise KD' shares {agree['listwise KD']:.0%} of its top 10 with the EASE "
              f"teacher's, the 'constant teacher' one {agree['constant teacher']:.0%}: a student distilled from "
              "EASE should agree with it more than one that never saw its scores. Are the two swapped?",
              "Distil 'listwise KD' from teacher_scores and 'constant teacher' from "
              "constant_teacher(teacher_scores).")
    per_user = {name: evaluate.per_user(students[name], split, "valid")["ndcg@10"] for name in NAMES}
    mean, low, high = metrics.paired_bootstrap_ci(per_user["listwise KD"], per_user["constant teacher"])
    print("Correct! Three students of the same size, each measured on the validation items (never the test "
          "items); the distilled one agrees with the teacher more than the control does:",
          *(f"  {name:<17} validation NDCG@10 = {results[name]:.4f}   top-10 agreement with EASE = {agree[name]:.0%}"
            for name in NAMES),
          f"  listwise KD − constant teacher: {mean:+.4f} (95% interval over users {low:+.4f} to {high:+.4f})",
          sep="\n")
