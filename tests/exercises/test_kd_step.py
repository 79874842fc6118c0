"""tinyrec.exercises.kd_step: check_kd_step (Exercise 1.2) passes correct steps and names each known mistake,
alone or combined."""

import pytest
import torch
import torch.nn.functional as F

from tinyrec.exercises import kd_step as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.kd_step import check_kd_step

from . import assert_names, fails_with, stub


def step(student, optimizer, users, teacher_scores, seen, triples, T, alpha, mask="both", t2=True, temp=True,
         detach=True, reverse=False, swap_alpha=False, swap_bpr=False, kd_reduce="mean", zero_grad=True,
         n_steps=1, raw=False, in_place=False, returns="item"):
    """A kd_step written by hand, with the given mistakes (the defaults make none)."""
    u, i, j = triples.unbind(dim=1)
    pos, neg = student.pair_scores(u, i), student.pair_scores(u, j)
    bpr = -F.logsigmoid(neg - pos if swap_bpr else pos - neg).mean()
    t = teacher_scores.detach() if detach else teacher_scores
    if in_place:
        t = teacher_scores.data.masked_fill_(seen, -1e4)
    scale = T if temp else 1.0
    s_z, t_z = student(users) / scale, t / scale
    if raw:
        kd = F.cross_entropy(student(users), t)
    else:
        if mask in ("both", "teacher"):
            t_z = t_z.masked_fill(seen, float("-inf"))
        if mask == "both":
            s_z = s_z.masked_fill(seen, float("-inf"))
        log_q, log_p = F.log_softmax(s_z, dim=1), F.log_softmax(t_z, dim=1)
        if reverse:
            log_q, log_p = log_p, log_q
        p = log_p.exp()  # 0 on masked items, whose log-probabilities become 0: no NaN in the gradient
        terms = p * (log_p.masked_fill(torch.isinf(log_p), 0.0) - log_q.masked_fill(torch.isinf(log_q), 0.0))
        per_user = terms.sum(dim=1) * (T**2 if t2 else 1.0)
        kd = per_user.mean() if kd_reduce == "mean" else per_user.sum()
    loss = alpha * bpr + (1 - alpha) * kd if swap_alpha else (1 - alpha) * bpr + alpha * kd
    if zero_grad:
        optimizer.zero_grad()
    loss.backward()
    for _ in range(n_steps):
        optimizer.step()
    return {"item": loss.item(), "tensor": loss, "none": None, "bpr": bpr.item()}[returns]


def with_options(**options):
    def kd_step(student, optimizer, users, teacher_scores, seen, triples, T, alpha):
        return step(student, optimizer, users, teacher_scores, seen, triples, T, alpha, **options)
    return kd_step


def test_check_kd_step_passes_correct_steps(capsys):
    check_kd_step(step)
    check_kd_step(with_options(returns="tensor"))
    out = capsys.readouterr().out
    assert "Correct! step agrees with tinyrec.models.bpr_loss and tinyrec.distill.listwise_kd_loss" in out
    assert "the teacher receives no gradient" in out and "each step uses only its own batch's gradient" in out


@pytest.mark.parametrize("options, message", [
    # the source document's mistakes
    ({"detach": False}, "gradient flows into the teacher's scores — the source document's mistake"),
    ({"raw": True}, "Raw teacher scores used as targets — the source document's mistake"),
    ({"t2": False}, "Missing the T² factor"),
    ({"temp": False, "t2": False}, "No temperature"),
    # the others
    ({"mask": "none"}, "Seen items not masked"),
    ({"mask": "teacher"}, "Seen items masked in the teacher's target only"),
    ({"reverse": True}, "KL in the reverse direction"),
    ({"kd_reduce": "sum"}, "KD summed over the users"),
    ({"swap_alpha": True}, "α swapped"),
    ({"swap_bpr": True}, "BPR with the positive and the negative swapped"),
    ({"zero_grad": False}, "optimizer.zero_grad() is missing"),
    ({"n_steps": 2}, "optimizer.step() was called twice"),
    ({"n_steps": 0}, "the parameters did not change"),
    ({"mask": "none", "swap_alpha": True}, "2 mistakes:\n(1) Seen items not masked"),
    ({"t2": False, "swap_bpr": True, "swap_alpha": True}, "3 mistakes:\n(1) Missing the T² factor"),
    ({"in_place": True}, "it changed teacher_scores in place"),
    ({"returns": "none"}, "it returned None: return the loss's value"),
    ({"returns": "bpr"}, "not the loss it stepped on"),
])
def test_check_kd_step_names_the_mistake(options, message):
    assert_names(fails_with(check_kd_step, with_options(**options)), message)


def test_a_step_without_the_optimizer_is_named():
    def by_hand(student, optimizer, users, teacher_scores, seen, triples, T, alpha):
        loss = step(student, optimizer, users, teacher_scores, seen, triples, T, alpha, n_steps=0)
        with torch.no_grad():
            for p in student.parameters():
                p -= 0.01 * p.grad
        return loss
    assert_names(fails_with(check_kd_step, by_hand), "the parameters changed without optimizer.step()")


def test_a_nan_gradient_of_the_masked_items_is_named():
    def nan_step(student, optimizer, users, teacher_scores, seen, triples, T, alpha):
        u, i, j = triples.unbind(dim=1)
        bpr = -F.logsigmoid(student.pair_scores(u, i) - student.pair_scores(u, j)).mean()
        log_q = F.log_softmax((student(users) / T).masked_fill(seen, float("-inf")), dim=1)
        log_p = F.log_softmax((teacher_scores.detach() / T).masked_fill(seen, float("-inf")), dim=1)
        terms = torch.where(seen, 0.0, log_q.exp() * (log_q - log_p))  # reversed, NaN in the gradient
        loss = (1 - alpha) * bpr + alpha * T**2 * terms.sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    assert_names(fails_with(check_kd_step, nan_step), "the step put NaN (or inf) into the student's parameters")


def test_the_zero_grad_mistake_is_found_on_the_two_step_case():
    text = fails_with(check_kd_step, with_options(zero_grad=False))
    assert text.startswith("Case 'two steps in a row") and ", step 2\n" in text


def test_the_teacher_gradient_is_found_on_its_own_case():
    assert fails_with(check_kd_step, with_options(detach=False)).startswith("Case 'a teacher run with gradients")


def test_each_case_separates_the_mistakes():
    """On each single-step case no two different diagnoses give the same step, and none gives the right one."""
    for case in exercise.CASES[:3]:
        right, _ = exercise._gradient(case, case["state"])
        steps = [(exercise._gradient(case, case["state"], **options)[0], text)
                 for options, text in exercise.STEP_MISTAKES]
        for index, (value, text) in enumerate(steps):
            assert not same(value, right, rtol=1e-6, atol=1e-10), (case["name"], text)
            assert all(other == text or not same(value, earlier, rtol=1e-6, atol=1e-10)
                       for earlier, other in steps[:index]), (case["name"], text)


def test_check_kd_step_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_kd_step(stub)
