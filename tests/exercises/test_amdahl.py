"""tinyrec.exercises.amdahl: check_amdahl (Exercise 5.1) passes a correct answer and names each known mistake
of a whole request's speedup, of its ceiling, and of rejecting times that are zero or negative."""

import math

import pytest

from tinyrec.exercises import amdahl as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.amdahl import check_amdahl

from . import assert_names, fails_with, stub


def _positive(**times):
    for name, value in times.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def request_speedup(score_teacher, score_student, rest):
    _positive(score_teacher=score_teacher, score_student=score_student, rest=rest)
    return (score_teacher + rest) / (score_student + rest)


def speedup_ceiling(score_teacher, rest):
    _positive(score_teacher=score_teacher, rest=rest)
    return (score_teacher + rest) / rest


def checked(fn):
    """``fn``, behind the correct check of positive times (so that only its formula is wrong)."""
    def wrapped(*times):
        _positive(**{f"time {i}": t for i, t in enumerate(times)})
        return fn(*times)
    return wrapped


def test_check_amdahl_passes_a_correct_answer(capsys):
    check_amdahl(request_speedup, speedup_ceiling)
    out = capsys.readouterr().out
    assert "Correct! request_speedup and speedup_ceiling agree with tinyrec.measure.speedup" in out
    assert "a rest of 0 s raises ValueError" in out


def test_the_references_are_amdahls_law():
    """1 / ((1 - p) + p / s), with p the teacher's scoring share and s the scoring speedup; the ceiling 1 / (1 - p)."""
    t, s, r = 0.020, 0.0004, 0.002
    p = t / (t + r)
    assert math.isclose(exercise.reference_request_speedup(t, s, r), 1 / ((1 - p) + p / (t / s)))
    assert math.isclose(exercise.reference_ceiling(t, r), 1 / (1 - p))
    with pytest.raises(ValueError, match="rest must be a positive number of seconds, got 0"):
        exercise.reference_ceiling(t, 0)


@pytest.mark.parametrize("fn, message", [
    (lambda t, s, r: (s + r) / (t + r), "the ratio inverted, student / teacher"),
    (lambda t, s, r: t / s, "It ignored the rest"),
    (lambda t, s, r: (t + r) / s, "counted on the teacher's side only"),
    (lambda t, s, r: t / (s + r), "counted on the student's side only"),
    (lambda t, s, r: (t / s + 1) / 2, "averaged the two stages' speedups"),
    (lambda t, s, r: (t / (t + r)) * (t / s) + r / (t + r), "an arithmetic mean"),
    (lambda t, s, r: 100 * (t + r) / (s + r), "the speedup times 100"),
    (lambda t, s, r: 1 - (s + r) / (t + r), "the share of the request time saved"),
    (lambda t, s, r: 100 * (1 - (s + r) / (t + r)), "time saved in percent"),
    (lambda t, s, r: t - s, "the seconds saved per request"),
    (lambda t, s, r: f"{(t + r) / (s + r):.1f}×", "return the ratio as a float"),
    (lambda t, s, r: round((t + r) / (s + r), 1), "expected 9.16667, got 9.2"),
])
def test_check_amdahl_names_request_mistakes(fn, message):
    assert_names(fails_with(check_amdahl, checked(fn), speedup_ceiling), message)


@pytest.mark.parametrize("fn, message", [
    (lambda t, r: r / (t + r), "the rest's share of the teacher's request"),
    (lambda t, r: t / r, "It returned score_teacher / rest"),
    (lambda t, r: math.inf, "An infinite ceiling"),
    (lambda t, r: (t + r) / t, "It divided by the scoring time"),
    (lambda t, r: t / (t + r), "the share of the teacher's request that scoring takes, p"),
    (lambda t, r: 100 * t / (t + r), "that scoring takes, in percent"),
    (lambda t, r: 100 * (t + r) / r, "the ceiling times 100"),
])
def test_check_amdahl_names_ceiling_mistakes(fn, message):
    assert_names(fails_with(check_amdahl, request_speedup, checked(fn)), message)


def test_check_amdahl_names_an_error_on_valid_times():
    def too_strict(t, s, r):
        if s > r:
            raise ValueError("the student must score faster than the rest")
        return request_speedup(t, s, r)
    assert_names(fails_with(check_amdahl, too_strict, speedup_ceiling), "but every time here is positive")


@pytest.mark.parametrize("position, case", [(0, "a negative teacher time"), (1, "a student time of 0 s"),
                                            (2, "a negative rest")])
def test_check_amdahl_wants_each_bad_time_rejected(position, case):
    """A function that checks every time but one is caught on the case of the one it forgot."""
    def fn(*times):
        _positive(**{f"time {i}": t for i, t in enumerate(times) if i != position})
        return (times[0] + times[2]) / (times[1] + times[2])
    text = fails_with(check_amdahl, fn, speedup_ceiling)
    assert text.startswith(f"Case '{case}") and "instead of raising ValueError" in text, text


def asserting(t, r):
    assert t > 0 and r > 0, "bad time"
    return (t + r) / r


def silent_value_error(t, r):
    if not (t > 0 and r > 0):
        raise ValueError("times must be positive")
    return (t + r) / r


@pytest.mark.parametrize("ceiling, message", [
    (lambda t, r: (t + r) / r, "it raised ZeroDivisionError instead of ValueError"),
    (lambda t, r: (t + r) / r if r != 0 else math.inf, "it returned inf instead of raising ValueError"),
    (asserting, "it raised AssertionError instead of ValueError"),
    (silent_value_error, "which does not give the value"),
])
def test_check_amdahl_names_bad_input_mistakes(ceiling, message):
    assert_names(fails_with(check_amdahl, request_speedup, ceiling), message)


@pytest.mark.parametrize("part", exercise.PARTS, ids=lambda part: part[0])
def test_each_mistake_is_named_on_the_first_case_it_changes(part):
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    _, _, reference, mistakes, cases, _ = part
    for k, (mistake, text) in enumerate(mistakes):
        arguments = next(a for _, a, _ in cases if not same(mistake(*a), reference(*a), rtol=1e-6, atol=1e-12))
        value = mistake(*arguments)
        assert not any(same(value, earlier(*arguments), rtol=1e-6, atol=1e-12) for earlier, _ in mistakes[:k]), text


@pytest.mark.parametrize("position", range(2), ids=["request_speedup", "speedup_ceiling"])
def test_check_amdahl_lets_the_exercise_stub_raise(position):
    fns = [request_speedup, speedup_ceiling]
    fns[position] = stub
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_amdahl(*fns)
