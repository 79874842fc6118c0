"""tinyrec.exercises.ratios: check_ratios (Exercise 3.1) passes a correct answer and names each known
mistake of the compression ratio, the speedup and the relative drop."""

import pytest

from tinyrec import measure
from tinyrec.exercises import ratios as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.ratios import check_ratios

from . import assert_names, fails_with, stub


def compression_ratio(original_bytes, compressed_bytes):
    return original_bytes / compressed_bytes


def speedup(original_seconds, compressed_seconds):
    return original_seconds / compressed_seconds


def relative_drop(original_metric, compressed_metric):
    return (original_metric - compressed_metric) / original_metric


RIGHT = (compression_ratio, speedup, relative_drop)


def test_check_ratios_passes_a_correct_answer(capsys):
    check_ratios(*RIGHT)
    out = capsys.readouterr().out
    assert "Correct! compression_ratio, speedup and relative_drop agree with tinyrec.measure" in out
    assert "13.9% of the original size" in out


def test_the_sources_example_is_a_case():
    """13.9% of the original size = 7.2× smaller = 86% saved."""
    (_, (original, compressed), _), *_ = exercise.COMPRESSION_CASES
    assert round(measure.compression_ratio(original, compressed), 1) == 7.2
    assert round(1 - compressed / original, 2) == 0.86


@pytest.mark.parametrize("fn, message", [
    (lambda o, c: c / o, "the inverted ratio (the source document's definition)"),
    (lambda o, c: 1 - c / o, "It returned the space saving"),
    (lambda o, c: 100 * c / o, "percentage of the original size"),
    (lambda o, c: 100 * (1 - c / o), "space saved in percent"),
    (lambda o, c: 100 * o / c, "ratio times 100"),
    (lambda o, c: f"{o / c:.1f}×", "return a float"),
    (lambda o, c: round(o / c, 1), "expected 7.19424, got 7.2"),
])
def test_check_ratios_names_compression_mistakes(fn, message):
    assert_names(fails_with(check_ratios, fn, speedup, relative_drop), message)


@pytest.mark.parametrize("fn, message", [
    (lambda o, c: 1 / c, "1 / compressed_seconds (the source document's 速度比)"),
    (lambda o, c: c / o, "compressed / original seconds, inverted"),
    (lambda o, c: 1 - c / o, "share of time saved"),
    (lambda o, c: 100 * o / c, "speedup times 100"),
])
def test_check_ratios_names_speedup_mistakes(fn, message):
    assert_names(fails_with(check_ratios, compression_ratio, fn, relative_drop), message)


@pytest.mark.parametrize("fn, message", [
    (lambda o, c: o - c, "the absolute drop"),
    (lambda o, c: c - o, "an absolute change with the sign flipped"),
    (lambda o, c: (c - o) / o, "The sign is flipped"),
    (lambda o, c: 100 * (o - c) / o, "It returned a percentage"),
    (lambda o, c: (o - c) / c, "divided by the compressed metric"),
    (lambda o, c: c / o, "the share of the metric kept"),
    (lambda o, c: max(0.0, (o - c) / o), "expected -0.1, got 0"),
])
def test_check_ratios_names_drop_mistakes(fn, message):
    assert_names(fails_with(check_ratios, compression_ratio, speedup, fn), message)


@pytest.mark.parametrize("part", exercise.PARTS, ids=lambda part: part[0])
def test_each_mistake_is_named_on_the_first_case_it_changes(part):
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    _, _, reference, mistakes, cases = part
    for k, (mistake, text) in enumerate(mistakes):
        arguments = next(a for _, a, _ in cases if not same(mistake(*a), reference(*a), rtol=1e-6, atol=1e-9))
        value = mistake(*arguments)
        assert not any(same(value, earlier(*arguments), rtol=1e-6, atol=1e-9) for earlier, _ in mistakes[:k]), text


@pytest.mark.parametrize("position", range(3), ids=["compression_ratio", "speedup", "relative_drop"])
def test_check_ratios_lets_the_exercise_stub_raise(position):
    fns = list(RIGHT)
    fns[position] = stub
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_ratios(*fns)
