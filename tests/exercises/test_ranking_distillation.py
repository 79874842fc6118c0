"""tinyrec.exercises.ranking_distillation: check_ranking_distillation (Exercise 1.3) passes a correct
answer and names each known mistake of the weights and of the loss."""

import pytest
import torch
import torch.nn.functional as F

from tinyrec.exercises.ranking_distillation import check_ranking_distillation

from . import fails_with, stub


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
