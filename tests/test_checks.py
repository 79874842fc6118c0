"""tinyrec.checks: each exercise's check passes a correct answer and names each known mistake."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinyrec import checks, data, evaluate, metrics
from tinyrec.checks import (
    check_kd_loss, check_ndcg, check_ranking_distillation, check_soft_targets, check_temperature_choice,
)


def fails_with(check, *args):
    """The message of the AssertionError that ``check(*args)`` raises."""
    with pytest.raises(AssertionError) as error:
        check(*args)
    return str(error.value)


# ----------------------------------------------------------------------------------------------------------
# check_ndcg


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
    assert [checks._reference_ndcg(ranked, relevant) for _, ranked, relevant, _ in checks.NDCG_CASES] \
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


# ----------------------------------------------------------------------------------------------------------
# check_soft_targets (Exercise 1.1)


def soft(scores, temperature, exclude=None, dim=1, divide=True, stable=True, mask=True, zero_after=False,
         normalise=True, in_place=False):
    """A soft_targets with the given mistakes (the defaults make none)."""
    if in_place:
        scores /= temperature
        z = scores
    else:
        z = scores / temperature if divide else scores
    if exclude is not None and mask and not zero_after:
        z = z.masked_fill(exclude, float("-inf"))
    if stable:
        z = z - z.max(dim=dim, keepdim=True).values
    e = torch.exp(z)
    p = e / e.sum(dim=dim, keepdim=True) if normalise else e
    if exclude is not None and zero_after:
        p = p.masked_fill(exclude, 0.0)
    return p


def test_check_soft_targets_passes_correct_functions(capsys):
    check_soft_targets(soft)
    check_soft_targets(lambda s, T, exclude=None: torch.softmax(
        (s / T) if exclude is None else (s / T).masked_fill(exclude, -1e9), dim=-1))
    assert "Correct! soft agrees with torch.softmax (excluded items masked)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda s, T, exclude=None: soft(s, T, exclude, divide=False), "were not divided by the temperature"),
    (lambda s, T, exclude=None: soft(s * T * T, T, exclude), "multiplied by the temperature instead of divided"),
    (lambda s, T, exclude=None: soft(s, T, exclude, stable=False), "overflows float32"),
    (lambda s, T, exclude=None: soft(s, T, exclude, mask=False), "The excluded items kept their probability"),
    (lambda s, T, exclude=None: soft(s, T, exclude, zero_after=True), "set to 0 *after* the softmax"),
    (lambda s, T, exclude=None: soft(s, T, exclude, dim=0), "Normalised over the wrong dimension"),
    (lambda s, T, exclude=None: soft(s, T, exclude, normalise=False), "Not normalised: each row is proportional"),
    (lambda s, T, exclude=None: soft(s, T, exclude, normalise=False, stable=False), "sums to [3446.374     9.5244]"),
    (lambda s, T, exclude=None: soft(s, T, exclude) + 0.1, "its rows sum to [1.4 1.4], not 1"),
    (lambda s, T, exclude=None: soft(s, T, exclude).numpy(), "not a torch.Tensor"),
    (lambda s, T, exclude=None: soft(s, T, exclude, in_place=True), "changed its input in place"),
])
def test_check_soft_targets_names_the_mistake(fn, message):
    text = fails_with(check_soft_targets, fn)
    assert text.startswith("Case '") and message in text and "\nHint: " in text


# ----------------------------------------------------------------------------------------------------------
# check_kd_loss (Exercise 1.2)


def kd_correct(student_logits, teacher_logits, T):
    """The book's version."""
    log_q = F.log_softmax(student_logits / T, dim=1)
    log_p = F.log_softmax(teacher_logits.detach() / T, dim=1)
    return T**2 * (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def kd_kl_div(s, t, T, reduction="batchmean", t2=True, student_T=True, teacher_T=True, reverse=False, detach=True):
    """kd_loss with F.kl_div and the given mistakes (the defaults make none)."""
    t = t.detach() if detach else t
    log_q = F.log_softmax(s / T if student_T else s, dim=1)
    log_p = F.log_softmax(t / T if teacher_T else t, dim=1)
    if reverse:
        log_q, log_p = log_p, log_q
    loss = F.kl_div(log_q, log_p, reduction=reduction, log_target=True)
    return loss * T**2 if t2 else loss


def test_check_kd_loss_passes_correct_functions(capsys):
    check_kd_loss(kd_correct)
    check_kd_loss(kd_kl_div)
    out = capsys.readouterr().out
    assert "Correct! kd_correct agrees with tinyrec.distill.kd_loss" in out
    assert "the gradient reaches the student, and not the teacher" in out


@pytest.mark.filterwarnings("ignore:reduction. 'mean'")
@pytest.mark.parametrize("fn, message", [
    # the source document's mistakes
    (lambda s, t, T: F.cross_entropy(s, t), "Raw teacher logits used as targets — the source document's mistake"),
    (lambda s, t, T: T**2 * F.cross_entropy(s / T, t.detach() / T), "Raw teacher logits used as targets"),
    (lambda s, t, T: kd_kl_div(s, t, T, t2=False), "Missing the T² factor"),
    (lambda s, t, T: kd_kl_div(s, t, T, detach=False), "gradient flows into the teacher's logits"),
    (lambda s, t, T: kd_kl_div(s, t, T, student_T=False, teacher_T=False, t2=False),
     "2 mistakes:\n(1) No temperature at all"),
    # the other classic ones
    (lambda s, t, T: kd_kl_div(s, t, T, reduction="sum"), "Reduction 'sum'"),
    (lambda s, t, T: kd_kl_div(s, t, T, reduction="mean"), "Reduction 'mean' over all elements"),
    (lambda s, t, T: kd_kl_div(s, t, T, reverse=True), "KL in the reverse direction"),
    (lambda s, t, T: kd_kl_div(s, t, T, student_T=False), "No temperature on the student's side"),
    (lambda s, t, T: kd_kl_div(s, t, T, teacher_T=False), "No temperature on the teacher's side"),
    (lambda s, t, T: kd_kl_div(s, t, T, reduction="mean", t2=False),
     "2 mistakes:\n(1) Missing the T² factor"),
    (lambda s, t, T: -T**2 * (F.softmax(t / T, 1) * F.log_softmax(s / T, 1)).sum(1).mean(),
     "Cross-entropy with soft targets"),
    (lambda s, t, T: T**2 * F.kl_div(F.softmax(s / T, 1), F.softmax(t.detach() / T, 1), reduction="batchmean"),
     "expects the student's *log*-probabilities"),
    (lambda s, t, T: T**2 * F.kl_div(torch.log(F.softmax(s / T, 1)), F.softmax(t.detach() / T, 1),
                                     reduction="batchmean"), "Use F.log_softmax"),
    (lambda s, t, T: kd_kl_div(s, t, T, reduction="none").sum(1), "one value per row"),
    (lambda s, t, T: kd_kl_div(s, t, T).item(), "not a torch.Tensor"),
    (lambda s, t, T: kd_kl_div(s.detach(), t, T), "does not depend on the student's logits"),
    (lambda s, t, T: 1.5 * kd_kl_div(s, t, T), "expected 2.7714"),
])
def test_check_kd_loss_names_the_mistake(fn, message):
    text = fails_with(check_kd_loss, fn)
    assert text.startswith("Case '") and message in text and "\nHint: " in text


def test_check_kd_loss_cases_separate_the_mistakes():
    """On the first case no two different diagnoses give the same value, and none gives the right one."""
    name, s, t, T, _ = checks.KD_CASES[0]
    right = checks.distill.kd_loss(s, t, T)
    values = [(fn(s, t, T), text) for fn, text in checks.KD_MISTAKES]
    for i, (value, text) in enumerate(values):
        assert not checks._same(value, right), text
        assert all(other == text or not checks._same(value, earlier) for earlier, other in values[:i]), text


# ----------------------------------------------------------------------------------------------------------
# check_ranking_distillation (Exercise 1.3)


def weights_correct(k, lam):
    w = torch.exp(-torch.arange(1, k + 1, dtype=torch.float32) / lam)
    return w / w.sum()


def rd(student_scores, teacher_scores, k, lam, weights=weights_correct, top_of="teacher", reduce="mean",
       log=F.logsigmoid, order="best first"):
    """rd_loss with the given mistakes (the defaults make none)."""
    ranking = teacher_scores if top_of == "teacher" else student_scores
    items = ranking.topk(k, dim=1).indices if order == "best first" else ranking.argsort(dim=1)[:, -k:]
    per_user = -(weights(k, lam) * log(student_scores.gather(1, items))).sum(dim=1)
    return per_user.mean() if reduce == "mean" else per_user.sum()


def test_check_ranking_distillation_passes_a_correct_answer(capsys):
    check_ranking_distillation(weights_correct, rd)
    assert "Correct! weights_correct and rd agree with tinyrec.distill.rank_weights" in capsys.readouterr().out


@pytest.mark.parametrize("weights, message", [
    (lambda k, lam: torch.exp(-torch.arange(1, k + 1) / lam), "Not normalised: exp(−r/λ)"),
    (lambda k, lam: torch.exp(-torch.arange(k) / lam), "ranks counted from 0. The book counts ranks r = 1..K"),
    (lambda k, lam: weights_correct(k + 1, lam), "There are K = 5 ranks, r = 1..K"),
    (lambda k, lam: weights_correct(k, lam).flip(0), "The weights increase with the rank"),
    (lambda k, lam: weights_correct(k, 1 / lam), "exp(−r·λ) instead of exp(−r/λ)"),
    (lambda k, lam: torch.ones(k) / k, "Uniform weights 1/K"),
    (lambda k, lam: weights_correct(k, lam).tolist(), "not a torch.Tensor"),
])
def test_check_ranking_distillation_names_weight_mistakes(weights, message):
    text = fails_with(check_ranking_distillation, weights, rd)
    assert text.startswith("Case 'K = 5, λ = 2'") and message in text


@pytest.mark.parametrize("loss, message", [
    (lambda s, t, k, lam: rd(s, t, k, lam, top_of="student"), "It used the *student's* top-K items"),
    (lambda s, t, k, lam: rd(s, t, k, lam, reduce="sum"), "Summed over users instead of averaged"),
    (lambda s, t, k, lam: rd(s, t, k, lam, log=lambda x: torch.log(torch.sigmoid(x))), "Use F.logsigmoid"),
    (lambda s, t, k, lam: rd(s, t, k, lam, weights=lambda k, lam: torch.exp(-torch.arange(1, k + 1) / lam)),
     "The position weights are not normalised"),
    (lambda s, t, k, lam: rd(s, t, k, lam, order="ascending"), "in reverse order"),
    (lambda s, t, k, lam: -rd(s, t, k, lam), "The sign is wrong"),
    (lambda s, t, k, lam: rd(s, t, k, lam) / k, "Averaged over the K ranks as well as the users"),
    (lambda s, t, k, lam: rd(s, t, k, lam, log=torch.sigmoid), "σ(s) without the log"),
])
def test_check_ranking_distillation_names_loss_mistakes(loss, message):
    text = fails_with(check_ranking_distillation, weights_correct, loss)
    assert text.startswith("Case '") and message in text and "\nHint: " in text


def test_log_sigmoid_case_is_found_only_by_the_far_off_student():
    text = fails_with(check_ranking_distillation, weights_correct,
                      lambda s, t, k, lam: rd(s, t, k, lam, log=lambda x: torch.log(torch.sigmoid(x))))
    assert text.startswith("Case 'a student far off") and "it returned inf" in text


# ----------------------------------------------------------------------------------------------------------
# check_temperature_choice (Exercise 1.4): on the real split, with made-up results (no training)


@pytest.fixture(scope="module")
def split():
    return data.split_per_user(data.load_movielens_100k(), seed=0)


def validation_ndcg_for(split, part="valid", metric="ndcg@10", k=10):
    def validation_ndcg(model):
        return evaluate.evaluate(model, split, part, k)[metric]
    return validation_ndcg


GOOD = {0.01: 0.238, 0.02: 0.238, 0.05: 0.240, 0.1: 0.232}


def test_check_temperature_choice_passes_a_correct_choice(split, capsys):
    check_temperature_choice(GOOD, 0.05, validation_ndcg_for(split), split)
    out = capsys.readouterr().out
    assert out.startswith("Correct! T = 0.05 has the highest NDCG@10 on the validation items")
    assert "T = 0.05   validation NDCG@10 = 0.2400   e^H = " in out and "movies   ← chosen" in out


def test_check_temperature_choice_names_the_mistake(split):
    cases = [  # (results, best_T, validation function, message)
        (GOOD, 0.05, validation_ndcg_for(split, "test"), "it measures the *test* items"),
        (GOOD, 0.05, validation_ndcg_for(split, metric="recall@10"), "it returned recall@10 on 'valid'"),
        (GOOD, 0.05, validation_ndcg_for(split, "test", "ndcg@20", 20), "it returned ndcg@20 on 'test'"),
        (GOOD, 0.05, lambda model: evaluate.evaluate(model, split, "valid"), "it returned a dict"),
        (GOOD, 0.05, lambda model: metrics.ndcg_at_k(evaluate.score_all(model, split), split.mask("valid"), 10)
         .mean().item(), "it ranks the users' training items too"),
        (GOOD, 0.1, validation_ndcg_for(split), "choose the temperature with the highest validation NDCG@10"),
        (GOOD, 0.2, validation_ndcg_for(split), "best_T = 0.2 is not one of the temperatures you tried"),
        ({0.02: 0.2, 0.05: 0.21}, 0.05, validation_ndcg_for(split), "at least 3 temperatures"),
        ({0.02: 0.05, 0.05: 0.21, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "results[0.02] = 0.0500 is outside"),
        ({0.02: 0.2, 0.05: 0.45, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "results[0.05] = 0.4500 is outside"),
        ({0.02: 0.2, 0.05: 0.2, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "every temperature gives the same"),
        ({0.02: 0.238, 0.05: 0.240, 1.0: 0.243}, 1.0, validation_ndcg_for(split),
         "T = 1 is far above the scale of the EASE teacher's scores"),
        ({-1: 0.2, 0.05: 0.21, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "keys must be numbers > 0"),
    ]
    for results, best_T, fn, message in cases:
        text = fails_with(check_temperature_choice, results, best_T, fn, split)
        assert message in text and "\nHint: " in text, (message, text)


def test_check_temperature_choice_explains_a_nearly_uniform_target(split):
    text = fails_with(check_temperature_choice, {0.02: 0.238, 0.05: 0.240, 1.0: 0.243}, 1.0,
                      validation_ndcg_for(split), split)
    assert "the soft target is nearly uniform" in text and "a regulariser, like label smoothing" in text


# ----------------------------------------------------------------------------------------------------------
# Every check lets the exercise's stub raise


@pytest.mark.parametrize("check, arguments", [
    (check_ndcg, 1), (check_soft_targets, 1), (check_kd_loss, 1), (check_ranking_distillation, 2),
])
def test_checks_let_the_exercise_stub_raise(check, arguments):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: write your solution here")
    with pytest.raises(NotImplementedError, match="Exercise"):
        check(*[stub] * arguments)


def test_check_temperature_choice_lets_the_stub_raise(split):
    def stub(model):
        raise NotImplementedError("Exercise: write your solution here")
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_temperature_choice(GOOD, 0.05, stub, split)
