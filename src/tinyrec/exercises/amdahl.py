"""Exercise 5.1 (``05_exercise_amdahl``): Amdahl's law for a top-10 request.

A request scores every item (``score_teacher`` or ``score_student`` seconds), then excludes the seen items and
selects the top 10 (``rest`` seconds, the same work on a score matrix of the same shape for either model). The
learner writes ``request_speedup(score_teacher, score_student, rest)``, the whole request's speedup, and
``speedup_ceiling(score_teacher, rest)``, the speedup of a student whose scoring is free: the most any student
could do. :func:`check_amdahl` compares them with :func:`reference_request_speedup` and :func:`reference_ceiling`
(:func:`tinyrec.measure.speedup` of whole-request times) on hand-made timings, then passes each a time that is
zero or negative and expects a ``ValueError`` whose message gives the value.

Each known mistake is computed on the same case as the learner's answer (from the references where it is a
change to them) and named when it matches: for the speedup, the ratio inverted, the rest ignored (the
scoring-only ratio), the rest counted on one side only, the mean of the two stages' speedups or their mean
weighted by the teacher's shares (instead of the ratio of the totals), a percentage or the share of time saved,
the seconds saved; for the ceiling, the rest's share (inverted), the scoring time over the rest, an infinite
ceiling, one over the scoring share, the scoring share itself (as a fraction or in percent), a percentage. For
bad input: a value returned, another exception raised (``ZeroDivisionError``, ``AssertionError``), a
``ValueError`` that does not give the value.
"""

import math
import numbers

from tinyrec import measure
from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake

__all__ = ["reference_request_speedup", "reference_ceiling", "check_amdahl"]


def _positive_times(**times):
    """``ValueError`` naming the first time that is not a positive number of seconds."""
    for name, value in times.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def reference_request_speedup(score_teacher, score_student, rest):
    """The teacher's whole request time over the student's: ``(score_teacher + rest) / (score_student + rest)``."""
    _positive_times(score_teacher=score_teacher, score_student=score_student, rest=rest)
    return measure.speedup(score_teacher + rest, score_student + rest)


def reference_ceiling(score_teacher, rest):
    """The request speedup of a student that scores in no time: ``(score_teacher + rest) / rest``."""
    _positive_times(score_teacher=score_teacher, rest=rest)
    return measure.speedup(score_teacher + rest, rest)


REQUEST_MISTAKES = [  # (fn(score_teacher, score_student, rest) with this mistake, the diagnosis)
    (lambda t, s, r: 1 / reference_request_speedup(t, s, r),
     "It returned the ratio inverted, student / teacher: the share of the teacher's request time that the "
     "student's takes. A speedup is the teacher's time over the student's; above 1 means faster."),
    (lambda t, s, r: measure.speedup(t, s),
     "It ignored the rest: score_teacher / score_student is the speedup of scoring alone. Every request also "
     "excludes the seen items and selects the top 10, and that work does not shrink with the model: add it to "
     "both sides."),
    (lambda t, s, r: measure.speedup(t + r, s),
     "The rest is counted on the teacher's side only: the student's request excludes the seen items and selects "
     "the top 10 from a score matrix of the same shape, so it pays the rest too."),
    (lambda t, s, r: measure.speedup(t, s + r),
     "The rest is counted on the student's side only: the teacher's request pays it too."),
    (lambda t, s, r: (measure.speedup(t, s) + 1) / 2,
     "It averaged the two stages' speedups (scoring score_teacher / score_student, the rest 1): a mean of ratios "
     "weighs a 2 ms stage like a 20 ms one. The speedup of the whole is the ratio of the totals."),
    (lambda t, s, r: (t * measure.speedup(t, s) + r) / (t + r),
     "It took the stages' speedups weighted by the teacher's time shares, an arithmetic mean: times add, so the "
     "whole's speedup is their harmonic mean, 1 / ((1 − p) + p / s) (Amdahl's law), which is the ratio of the "
     "totals."),
    (lambda t, s, r: 100 * reference_request_speedup(t, s, r),
     "It returned the speedup times 100: the ratio itself is the answer (9 means nine times as fast)."),
    (lambda t, s, r: 1 - 1 / reference_request_speedup(t, s, r),
     "It returned the share of the request time saved, 1 − student / teacher: a speedup is a ratio, teacher / "
     "student (89% saved is a speedup of 9)."),
    (lambda t, s, r: 100 * (1 - 1 / reference_request_speedup(t, s, r)),
     "It returned the request time saved in percent: return the ratio teacher / student, a plain number."),
    (lambda t, s, r: t - s,
     "It returned the seconds saved per request, score_teacher − score_student: a speedup is a ratio of the "
     "two whole requests' times, and it has no unit."),
]
CEILING_MISTAKES = [  # (fn(score_teacher, rest) with this mistake, the diagnosis)
    (lambda t, r: 1 / reference_ceiling(t, r),
     "It returned the rest's share of the teacher's request, rest / (score_teacher + rest) — Amdahl's serial "
     "fraction. The ceiling is its inverse: the teacher's request time over the rest's."),
    (lambda t, r: t / r,
     "It returned score_teacher / rest: with scoring free the student's request still takes the rest, but the "
     "teacher's takes score_teacher + rest, not score_teacher."),
    (lambda t, r: math.inf,
     "An infinite ceiling: a free model makes scoring free, not the request. The rest remains, so the request "
     "can get at most (score_teacher + rest) / rest times faster."),
    (lambda t, r: (t + r) / t,
     "It divided by the scoring time: one over the share scoring takes, 1 / p. The part that remains is the "
     "rest, so the ceiling is 1 / (1 − p) = (score_teacher + rest) / rest."),
    (lambda t, r: t / (t + r),
     "It returned the share of the teacher's request that scoring takes, p: the most of its *time* a free "
     "model could save. The ceiling on the speedup is 1 / (1 − p)."),
    (lambda t, r: 100 * t / (t + r),
     "It returned the share of the teacher's request that scoring takes, in percent: the ceiling on the "
     "speedup is a ratio, (score_teacher + rest) / rest."),
    (lambda t, r: 100 * reference_ceiling(t, r),
     "It returned the ceiling times 100: the ratio itself is the answer."),
]

REQUEST_CASES = [  # (name, (score_teacher, score_student, rest), hint)
    ("Lab 5a's scale at batch 256: 20 ms of teacher scoring, 0.4 ms of student scoring, 2 ms of the rest",
     (0.020, 0.0004, 0.002),
     "(20 + 2) / (0.4 + 2) = 9.2: scoring is 50× faster, the whole request 9.2×."),
    ("the same times in milliseconds", (20.0, 0.4, 2.0),
     "A ratio of two times has no unit: the answer cannot depend on seconds or milliseconds."),
    ("a student that scores more slowly than the teacher: 1, 3 and 2 ms", (0.001, 0.003, 0.002),
     "(1 + 2) / (3 + 2) = 0.6: slower, and the ratio says so."),
]
CEILING_CASES = [  # (name, (score_teacher, rest), hint)
    ("Lab 5a's teacher at batch 256: 20 ms of scoring, 2 ms of the rest", (0.020, 0.002),
     "With scoring free the request still takes the 2 ms of the rest: (20 + 2) / 2 = 11."),
    ("the same times in milliseconds", (20.0, 2.0), "A ratio of two times has no unit."),
    ("the rest costs more than scoring: 1 ms of scoring, 4 ms of the rest", (0.001, 0.004),
     "(1 + 4) / 4 = 1.25: no student, however small, makes this request more than 1.25× faster."),
]
REQUEST_ERRORS = [  # (name, (score_teacher, score_student, rest), the argument that is wrong)
    ("a negative teacher time", (-0.0125, 0.0004, 0.002), "score_teacher"),
    ("a student time of 0 s (a clock that did not tick)", (0.020, 0.0, 0.002), "score_student"),
    ("a negative rest", (0.020, 0.0004, -0.0035), "rest"),
]
CEILING_ERRORS = [  # (name, (score_teacher, rest), the argument that is wrong)
    ("a rest of 0 s", (0.020, 0.0), "rest"),
    ("a negative teacher time", (-0.0125, 0.002), "score_teacher"),
]
PARTS = [  # (label, argument names, reference, mistakes, cases, bad inputs)
    ("request_speedup", ("score_teacher", "score_student", "rest"), reference_request_speedup, REQUEST_MISTAKES,
     REQUEST_CASES, REQUEST_ERRORS),
    ("speedup_ceiling", ("score_teacher", "rest"), reference_ceiling, CEILING_MISTAKES, CEILING_CASES,
     CEILING_ERRORS),
]


def _call(fn, names, args):
    return f"{fn_name(fn)}(" + ", ".join(f"{n}={a:g}" for n, a in zip(names, args)) + ")"


def _value_problem(fn, reference, mistakes, args):
    """What is wrong with ``fn(*args)`` on valid times, or None."""
    try:
        result = fn(*args)
    except ValueError as error:
        return f"it raised ValueError({str(error)!r}), but every time here is positive."
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        return f"it returned {result!r} ({type(result).__name__}): return the ratio as a float."
    expected = reference(*args)
    if same(result, expected, rtol=1e-6, atol=1e-12):
        return None
    return (which_mistake(result, mistakes, *args, rtol=1e-6, atol=1e-12)
            or f"expected {expected:.6g}, got {result:.6g}.")


def _error_problem(fn, args, argument, value):
    """What is wrong with how ``fn(*args)`` treats the bad ``argument`` (= ``value``), or None."""
    try:
        result = fn(*args)
    except NotImplementedError:
        raise
    except ValueError as error:
        shown = {repr(value), str(value), f"{value:g}"}
        if any(text in str(error) for text in shown):
            return None
        return (f"it raised ValueError({str(error)!r}), which does not give the value: say which time was wrong "
                f"and what it was ({argument} = {value:g}).")
    except Exception as error:  # noqa: BLE001 — any other exception is the mistake to name
        return (f"it raised {type(error).__name__} instead of ValueError: check every time before computing "
                f"with it, and raise ValueError naming the bad one ({argument} = {value:g}).")
    return (f"it returned {result!r} instead of raising ValueError: {argument} = {value:g} is not a time a "
            "request can take (a clock that did not tick, a sign flipped), and a ratio of it means nothing.")


def check_amdahl(request_speedup, speedup_ceiling):
    """Check ``request_speedup(score_teacher, score_student, rest)`` against :func:`reference_request_speedup`
    and ``speedup_ceiling(score_teacher, rest)`` against :func:`reference_ceiling`, three cases each, then
    that each raises ``ValueError`` giving the value when a time is zero or negative."""
    passed = []
    for fn, (label, names, reference, mistakes, cases, errors) in zip((request_speedup, speedup_ceiling), PARTS):
        for case, args, hint in cases:
            problem = _value_problem(fn, reference, mistakes, args)
            if problem:
                raise case_error(case, _call(fn, names, args), problem, hint)
            passed.append(f"{label}: {case}")
        for case, args, argument in errors:
            problem = _error_problem(fn, args, argument, args[names.index(argument)])
            if problem:
                raise case_error(case, _call(fn, names, args), problem,
                                 f"if not {argument} > 0: raise ValueError(f\"{argument} must be positive, got "
                                 f"{{{argument}!r}}\")")
            passed.append(f"{label}: {case} raises ValueError")
    correct(f"{fn_name(request_speedup)} and {fn_name(speedup_ceiling)}",
            "tinyrec.measure.speedup of the whole requests' times", passed)
