"""tinyrec.exercises.control: check_constant_teacher and check_control_results (Exercise 1.1) pass a correct
answer and name each known mistake; on the real split and EASE teacher, with stand-in students (no training)."""

import pytest
import torch

from tinyrec import evaluate, models
from tinyrec.exercises.control import check_constant_teacher, check_control_results

from . import assert_names, fails_with, stub

T = 0.05


@pytest.fixture(scope="module")
def teacher_scores(split, teacher):
    return evaluate.score_all(teacher, split)


def soft(scores, seen, T, mask=True, zero_after=False, invert=False, divide=True, dim=1, log=False):
    """A soft_target with the given mistakes (the defaults make none)."""
    z = scores / T if divide else scores
    if mask and not zero_after:
        z = z.masked_fill(~seen if invert else seen, float("-inf"))
    p = (torch.log_softmax if log else torch.softmax)(z, dim=dim)
    return p.masked_fill(seen, 0.0) if zero_after else p


def test_check_constant_teacher_passes_correct_answers(split, teacher_scores, capsys):
    seen = split.mask("train")
    check_constant_teacher(torch.zeros_like, soft, teacher_scores, seen, T)
    check_constant_teacher(lambda t: t.detach().mean(dim=1, keepdim=True).expand_as(t).clone(),
                           lambda s, m, T: torch.softmax((s / T).masked_fill(m, -1e9), dim=1),
                           teacher_scores, seen, T)
    out = capsys.readouterr().out
    assert out.startswith("Correct! zeros_like gives every item the same score, without gradient")
    assert "each user's target is uniform over their unseen items" in out


@pytest.mark.parametrize("constant, message", [
    (lambda t: t.zero_(), "it changed teacher_scores in place"),
    (lambda t: t * 0, "the constant teacher's scores require grad"),
    (lambda t: t.detach().mean(dim=0, keepdim=True).expand_as(t).clone(), "it is not constant over the items"),
    (lambda t: torch.full_like(t, float("-inf")), "it returned non-finite scores"),
    (lambda t: torch.zeros(t.shape[1]), "expected shape"),
    (lambda t: torch.zeros(t.shape, dtype=torch.long), "return floating-point values"),
])
def test_check_constant_teacher_names_constant_mistakes(split, teacher_scores, constant, message):
    scores = teacher_scores.clone()  # the in-place mistake must not spoil the fixture
    assert_names(fails_with(check_constant_teacher, constant, soft, scores, split.mask("train"), T), message)


@pytest.mark.parametrize("soft_target, message", [
    (lambda s, m, T: soft(s, m, T, mask=False), "The seen items kept their probability"),
    (lambda s, m, T: soft(s, m, T, zero_after=True), "set to 0 *after* the softmax"),
    (lambda s, m, T: soft(s, m, T, invert=True), "The mask is inverted"),
    (lambda s, m, T: soft(s, m, T, divide=False), "were not divided by the temperature"),
    (lambda s, m, T: soft(s * T * T, m, T), "multiplied by the temperature instead of divided"),
    (lambda s, m, T: soft(s, m, T, dim=0), "Normalised over the wrong dimension"),
    (lambda s, m, T: soft(s, m, T, log=True), "It returned log-probabilities"),
    (lambda s, m, T: soft(s, m, T).numpy(), "not a torch.Tensor"),
    (lambda s, m, T: soft(s, m, T) + 0.01, "its rows sum to [1.05 1.05], not 1"),
    (lambda s, m, T: soft(s, m, T).roll(1, dims=1), "Expected [[0.0024"),
])
def test_check_constant_teacher_names_soft_target_mistakes(split, teacher_scores, soft_target, message):
    assert_names(fails_with(check_constant_teacher, torch.zeros_like, soft_target, teacher_scores,
                            split.mask("train"), T), message)


def test_a_soft_target_right_only_on_the_hand_made_cases_fails_on_movielens(split, teacher_scores):
    """Uniform over all items is right nowhere; a function that special-cases small inputs is caught."""
    def small_only(s, m, T):
        return soft(s, m, T) if s.numel() <= 12 else soft(s, m, T, mask=False)
    text = fails_with(check_constant_teacher, torch.zeros_like, small_only, teacher_scores, split.mask("train"), T)
    assert_names(text, "The seen items kept their probability")
    assert text.startswith("Case 'the constant teacher on MovieLens, the chosen T'")


# ---------------------------------------------------------------------------------------- the three runs


def mf(split, user, item):
    model = models.BPRMF(split.n_users, split.n_items, user.shape[1])
    model.user.weight.data, model.item.weight.data = user.float().contiguous(), item.float().contiguous()
    return model.eval()


@pytest.fixture(scope="module")
def students(split, teacher_scores):
    """Stand-ins of the same size: a rank-8 copy of the teacher ('distilled'), two random BPR-MF."""
    u, s, v = torch.linalg.svd(teacher_scores, full_matrices=False)
    generator = torch.Generator().manual_seed(0)
    return {"listwise KD": mf(split, u[:, :8] * s[:8], v[:8].T),
            "constant teacher": mf(split, torch.randn(split.n_users, 8, generator=generator),
                                   torch.randn(split.n_items, 8, generator=generator)),
            "no KD": mf(split, torch.randn(split.n_users, 8, generator=generator),
                        torch.randn(split.n_items, 8, generator=generator))}


def valid_of(students, split, part="valid", metric="ndcg@10", k=10):
    return {name: evaluate.evaluate(model, split, part, k)[metric] for name, model in students.items()}


def test_check_control_results_passes_correct_results(students, split, teacher, capsys):
    check_control_results(students, valid_of(students, split), split, teacher)
    out = capsys.readouterr().out
    assert out.startswith("Correct! Three students of the same size, each measured on the validation items")
    assert "listwise KD − constant teacher: +" in out and "top-10 agreement with EASE" in out


def test_check_control_results_names_the_mistake(students, split, teacher):
    right = valid_of(students, split)
    swapped = {**students, "listwise KD": students["constant teacher"], "constant teacher": students["listwise KD"]}
    smaller = {**students, "no KD": models.BPRMF(split.n_users, split.n_items, 4)}
    cases = [  # (students, results, message)
        (students, valid_of(students, split, "test"), "is the student's *test* NDCG@10"),
        (students, valid_of(students, split, metric="recall@10"), "is the student's recall@10 on 'valid'"),
        (students, {**right, "no KD": 0.5}, "is not the student's validation NDCG@10"),
        (swapped, valid_of(swapped, split), "Are the two swapped?"),
        (smaller, valid_of(smaller, split), "the three students differ in size"),
        ({**students, "no KD": students["constant teacher"]}, right, "are the same model object"),
        ({**students, "no KD": (students["no KD"], [])}, right, "not a trained BPR-MF model"),
        (students, {"KD": 0.2, "control": 0.1, "plain": 0.1}, "results must be a dict with the keys"),
        (students, {**right, "no KD": "0.2"}, "is not a number"),
    ]
    for given, results, message in cases:
        text = fails_with(check_control_results, given, results, split, teacher)
        assert message in text and "\nHint: " in text, (message, text)


def copy_of(split, model):
    return mf(split, model.user.weight.data.clone(), model.item.weight.data.clone())


@pytest.mark.parametrize("copied, into, message", [
    ("listwise KD", "constant teacher", "did both students learn from the same scores?"),
    ("no KD", "constant teacher", "the distillation term did not reach the training"),
])
def test_equal_results_name_what_made_two_students_equal(students, split, teacher, copied, into, message):
    same_model = {**students, into: copy_of(split, students[copied])}
    text = fails_with(check_control_results, same_model, valid_of(same_model, split), split, teacher)
    assert message in text and "\nHint: " in text


def test_checks_let_the_exercise_stub_raise(split, teacher_scores):
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_constant_teacher(stub, soft, teacher_scores, split.mask("train"), T)
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_constant_teacher(torch.zeros_like, stub, teacher_scores, split.mask("train"), T)
