"""tinyrec.exercises.assistant_chain: check_assistant_size and check_chain (Exercise 4.3) pass a correct
answer and name each known mistake of the assistant's size and of the teacher → assistant → student chain."""

import math

import pytest
import torch

from tinyrec import distill
from tinyrec.exercises import assistant_chain as exercise
from tinyrec.exercises.assistant_chain import check_assistant_size, check_chain

from . import assert_names, fails_with, stub


def assistant_size(teacher_params, student_params, params_per_dim):
    middle = math.sqrt(teacher_params * student_params) / params_per_dim
    sizes = {max(1, math.floor(middle)), max(1, math.ceil(middle))}
    return min(sorted(sizes), key=lambda d: max(teacher_params / (d * params_per_dim),
                                                 d * params_per_dim / student_params))


def _scores(model, users):
    model.eval()
    with torch.no_grad():
        return model(users)


def chain(teacher, assistant, student, users, distil):
    distil(assistant, _scores(teacher, users))
    distil(student, _scores(assistant, users))
    return student


def test_check_assistant_size_passes_a_correct_answer(capsys):
    check_assistant_size(assistant_size)
    out = capsys.readouterr().out
    assert "Correct! assistant_size agrees with tinyrec.distill.assistant_dim" in out and "d = 66" in out


def test_the_library_is_a_correct_answer(capsys):
    check_assistant_size(distill.assistant_dim)
    assert "Correct!" in capsys.readouterr().out


def test_size_cases_are_what_their_hints_say():
    assert [distill.assistant_dim(*args) for _, args, _ in exercise.SIZE_CASES] == [66, 32, 3]


@pytest.mark.parametrize("fn, message", [
    (lambda t, s, p: round((t + s) / 2 / p), "arithmetic midpoint"),
    (lambda t, s, p: round((t * s) ** 0.5), "midpoint's number of parameters"),
    (lambda t, s, p: round((t / s) ** 0.5), "the ratio of each step"),
    (lambda t, s, p: int((t * s) ** 0.5 / p), "It rounded down"),
    (lambda t, s, p: round((t * s) ** 0.5 / p), "rounded the dimension to the nearest integer"),
    (lambda t, s, p: round((t * s) ** 0.5 / p) + 1, "one too large"),
    (lambda t, s, p: (t * s) ** 0.5 / p, "a float: an embedding size is a whole number"),
    (lambda t, s, p: str(assistant_size(t, s, p)), "return the dimension, an int"),
    (lambda t, s, p: assistant_size(t, s, p) + 7, "expected d = 66, got 73"),
])
def test_check_assistant_size_names_mistakes(fn, message):
    assert_names(fails_with(check_assistant_size, fn), message)


def test_check_chain_passes_a_correct_answer(capsys):
    check_chain(chain)
    out = capsys.readouterr().out
    assert "Correct! chain agrees with the chain teacher → assistant → student" in out
    assert "a teacher already in eval mode" in out


def _no_eval(model, users):
    with torch.no_grad():
        return model(users)


def _with_grad(model, users):
    model.eval()
    return model(users)


def _assistant_by_student(teacher, assistant, student, users, distil):
    distil(assistant, _scores(student, users))
    distil(student, _scores(assistant, users))
    return student


def _no_assistant(teacher, assistant, student, users, distil):
    targets = _scores(teacher, users)
    distil(assistant, targets)
    distil(student, targets)
    return student


def _assistant_scored_early(teacher, assistant, student, users, distil):
    early = _scores(assistant, users)
    distil(assistant, _scores(teacher, users))
    distil(student, early)
    return student


def _wrong_order(teacher, assistant, student, users, distil):
    distil(student, _scores(assistant, users))
    distil(assistant, _scores(teacher, users))
    return student


def _teacher_in_train_mode(teacher, assistant, student, users, distil):
    distil(assistant, _no_eval(teacher, users))
    distil(student, _scores(assistant, users))
    return student


def _assistant_in_train_mode(teacher, assistant, student, users, distil):
    distil(assistant, _scores(teacher, users))
    distil(student, _no_eval(assistant, users))
    return student


def _teacher_with_grad(teacher, assistant, student, users, distil):
    distil(assistant, _with_grad(teacher, users))
    distil(student, _scores(assistant, users))
    return student


def _assistant_with_grad(teacher, assistant, student, users, distil):
    distil(assistant, _scores(teacher, users))
    distil(student, _with_grad(assistant, users))
    return student


def _one_step(teacher, assistant, student, users, distil):
    distil(student, _scores(teacher, users))
    return student


def _teacher_changed(teacher, assistant, student, users, distil):
    chain(teacher, assistant, student, users, distil)
    with torch.no_grad():
        teacher.user.mul_(0.5)
    return student


def _returns_assistant(teacher, assistant, student, users, distil):
    chain(teacher, assistant, student, users, distil)
    return assistant


def _returns_nothing(teacher, assistant, student, users, distil):
    chain(teacher, assistant, student, users, distil)


@pytest.mark.parametrize("fn, message", [
    (_assistant_by_student, "the assistant was distilled from the student"),
    (_no_assistant, "the student was distilled from the teacher directly: no assistant in between"),
    (_assistant_scored_early, "taken *before* the assistant was trained"),
    (_wrong_order, "the two steps ran in the wrong order"),
    (_teacher_in_train_mode, "the teacher was scored in training mode"),
    (_assistant_in_train_mode, "the assistant was scored in training mode"),
    (_teacher_with_grad, "the teacher was scored with gradients on"),
    (_assistant_with_grad, "the assistant was scored with gradients on"),
    (_one_step, "distil was called 1 time(s): the chain has two steps"),
    (_teacher_changed, "the teacher's weights changed"),
    (_returns_assistant, "it returned the assistant: return the (trained) student"),
    (_returns_nothing, "it returned NoneType: return the (trained) student"),
])
def test_check_chain_names_mistakes(fn, message):
    assert_names(fails_with(check_chain, fn), message)


def test_a_teacher_left_in_train_mode_fails_the_first_case_only():
    text = fails_with(check_chain, _teacher_in_train_mode)
    assert text.startswith("Case 'fresh models, all in training mode'")


@pytest.mark.parametrize("check", [check_assistant_size, check_chain])
def test_the_stub_propagates(check):
    with pytest.raises(NotImplementedError):
        check(stub)
