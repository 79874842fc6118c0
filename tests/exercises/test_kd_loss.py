"""tinyrec.exercises.kd_loss: check_kd_loss (Exercise 1.2) passes correct functions and names each known
mistake, alone or combined."""

import pytest
import torch
import torch.nn.functional as F

from tinyrec import distill
from tinyrec.exercises import kd_loss as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.kd_loss import check_kd_loss

from . import fails_with, stub


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
    name, s, t, T, _ = exercise.KD_CASES[0]
    right = distill.kd_loss(s, t, T)
    values = [(fn(s, t, T), text) for fn, text in exercise.KD_MISTAKES]
    for i, (value, text) in enumerate(values):
        assert not same(value, right), text
        assert all(other == text or not same(value, earlier) for earlier, other in values[:i]), text


def test_check_kd_loss_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_kd_loss(stub)
