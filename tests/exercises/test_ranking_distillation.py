"""tinyrec.exercises.ranking_distillation: check_ranking_distillation (Exercise 1.3) passes a correct
answer and names each known mistake of the weights and of the loss; the reference ranking-discrepancy and
hybrid weights match hand-computed values, and check_dynamic_weights names each known mistake."""

import pytest
import torch
import torch.nn.functional as F

from tinyrec import distill
from tinyrec.exercises import ranking_distillation as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.ranking_distillation import (check_dynamic_weights, check_ranking_distillation,
                                                    rd_dynamic_weights, rd_hybrid_weights)

from . import assert_names, fails_with, stub


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


def test_check_ranking_distillation_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_ranking_distillation(stub, stub)


# ------------------------------------------------------------------ the ranking-discrepancy and hybrid weights

def test_rd_dynamic_weights_by_hand():
    s = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.0, 0.2],     # already the teacher's order
                      [0.7, 0.8, 0.9, 0.1, 0.0, 0.2],     # the teacher's top 3 reversed
                      [1.5, 0.05, 0.8, 0.7, 0.1, 0.0]])   # item 0 seen; item 1 ranked 4th of the unseen
    items = torch.tensor([[0, 1, 2], [0, 1, 2], [2, 3, 1]])
    seen = torch.zeros(3, 6, dtype=torch.bool)
    seen[2, 0] = True
    t = torch.tanh
    expected = torch.tensor([[0.0, 0.0, 0.0], [t(torch.tensor(1.0)), 0.0, 0.0], [0.0, 0.0, t(torch.tensor(0.5))]])
    assert torch.allclose(rd_dynamic_weights(s, items, 0.5, exclude=seen), expected)
    # without the exclusion the seen item 0 ranks first: every rank of user 3 moves down by one
    assert torch.allclose(rd_dynamic_weights(s, items, 0.5)[2], t(torch.tensor([0.5, 0.5, 1.0])))


def test_rd_dynamic_weights_saturate_far_down_and_carry_no_gradient():
    s = torch.tensor([[0.0, -1.0, -2.0] + [1.0] * 50], requires_grad=True)
    weights = rd_dynamic_weights(s, torch.tensor([[0, 1, 2]]), 0.1)
    assert torch.allclose(weights, torch.tanh(torch.tensor([[5.0, 5.0, 5.0]])))  # ranks 51, 52, 53
    assert not weights.requires_grad


def test_rd_hybrid_weights_normalise_per_user_and_keep_zero_rows():
    s = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.0], [0.0, -0.1, -0.2, 0.5, 0.4]])
    items = torch.tensor([[0, 1, 2], [0, 1, 2]])
    hybrid = rd_hybrid_weights(s, items, 2.0, 0.5)
    assert torch.equal(hybrid[0], torch.zeros(3))  # nothing left to learn: weight 0, not NaN
    position = distill.rank_weights(3, 2.0)
    dynamic = torch.tanh(0.5 * torch.tensor([2.0, 2.0, 2.0]))  # ranks 3, 4, 5 for r = 1, 2, 3
    assert torch.allclose(hybrid[1], position * dynamic / (position * dynamic).sum())
    assert torch.allclose(hybrid[1].sum(), torch.tensor(1.0))


def dynamic_correct(student_scores, teacher_items, mu, exclude=None):
    key = student_scores if exclude is None else student_scores.masked_fill(exclude, float("-inf"))
    own = student_scores.gather(1, teacher_items)
    r_hat = 1 + (key[:, None, :] > own[:, :, None]).sum(dim=2)
    r = torch.arange(1, teacher_items.shape[1] + 1)
    return torch.tanh((mu * (r_hat - r)).clamp(min=0))


def hybrid_correct(student_scores, teacher_items, lam, mu, exclude=None):
    w = weights_correct(teacher_items.shape[1], lam) * dynamic_correct(student_scores, teacher_items, mu, exclude)
    total = w.sum(dim=1, keepdim=True)
    return torch.where(total > 0, w / total.clamp(min=1e-12), 0.0)


def test_check_dynamic_weights_passes_a_correct_answer(capsys):
    check_dynamic_weights(dynamic_correct, hybrid_correct)
    assert "Correct! dynamic_correct and hybrid_correct agree with rd_dynamic_weights and rd_hybrid_weights" \
        in capsys.readouterr().out


def dynamic_buggy(exclude_seen=True, first=1, floor=True, sign=1, descending=True, within_top=False, tanh=True,
                  mu_outside=False):
    def fn(s, items, mu, exclude=None):
        key = s if exclude is None or not exclude_seen else s.masked_fill(exclude, float("-inf"))
        own = s.gather(1, items)
        if within_top:
            key = own
        r_hat = 1 + ((key[:, None, :] > own[:, :, None]) if descending else
                     (key[:, None, :] < own[:, :, None]) & torch.isfinite(key[:, None, :])).sum(dim=2)
        r = torch.arange(first, first + items.shape[1])
        x = sign * (r_hat - r) * (1.0 if mu_outside else mu)
        x = x.clamp(min=0) if floor else x
        x = torch.tanh(x) if tanh else x
        return mu * x if mu_outside else x
    return fn


@pytest.mark.parametrize("dynamic, message", [
    (dynamic_buggy(exclude_seen=False), "The seen items were counted in the student's rank"),
    (dynamic_buggy(first=0), "r counted from 0"),
    (dynamic_buggy(first=2), "r̂ counted from 0"),
    (dynamic_buggy(floor=False), "Negative weights: without max(·, 0)"),
    (dynamic_buggy(sign=-1), "The difference is reversed"),
    (dynamic_buggy(descending=False), "The student's ranks run the wrong way"),
    (dynamic_buggy(within_top=True), "r̂ ranked the item among the teacher's K items only"),
    (dynamic_buggy(tanh=False), "No tanh"),
    (dynamic_buggy(mu_outside=True), "μ outside the tanh"),
    (lambda s, items, mu, exclude=None: dynamic_correct(s, items, mu, exclude).tolist(), "not a torch.Tensor"),
])
def test_check_dynamic_weights_names_dynamic_mistakes(dynamic, message):
    assert_names(fails_with(check_dynamic_weights, dynamic, hybrid_correct), message)


@pytest.mark.parametrize("hybrid, message", [
    (lambda s, it, lam, mu, ex=None: weights_correct(it.shape[1], lam) * dynamic_correct(s, it, mu, ex),
     "Not normalised: the product w_pos · w_dyn"),
    (lambda s, it, lam, mu, ex=None: (lambda w: w / w.sum(dim=1, keepdim=True))(
        weights_correct(it.shape[1], lam) * dynamic_correct(s, it, mu, ex)), "0 / 0 = NaN"),
    (lambda s, it, lam, mu, ex=None: exercise._normalised(weights_correct(it.shape[1], lam)
                                                          + dynamic_correct(s, it, mu, ex)),
     "The two weights were added"),
    (lambda s, it, lam, mu, ex=None: exercise._normalised(dynamic_correct(s, it, mu, ex)), "No position weight"),
    (lambda s, it, lam, mu, ex=None: (lambda w: w / w.sum() if w.sum() > 0 else w)(
        weights_correct(it.shape[1], lam) * dynamic_correct(s, it, mu, ex)), "Normalised over the whole batch"),
])
def test_check_dynamic_weights_names_hybrid_mistakes(hybrid, message):
    assert_names(fails_with(check_dynamic_weights, dynamic_correct, hybrid), message)


def test_each_dynamic_mistake_is_named_on_the_first_case_it_changes():
    cases = [(torch.tensor(s), torch.tensor(it), mu, None if ex is None else torch.tensor(ex))
             for _, s, it, mu, ex, _, _ in exercise.DYNAMIC_CASES]
    for index, (fn, text) in enumerate(exercise.DYNAMIC_MISTAKES):
        for s, items, mu, exclude in cases:
            value = fn(s, items, mu, exclude)
            if not same(value, rd_dynamic_weights(s, items, mu, exclude)):
                assert not any(same(value, other(s, items, mu, exclude))
                               for other, _ in exercise.DYNAMIC_MISTAKES[:index]), text
                break
        else:
            pytest.fail(f"no case shows the mistake: {text}")


def test_check_dynamic_weights_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_dynamic_weights(stub, hybrid_correct)
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_dynamic_weights(dynamic_correct, stub)
