"""tinyrec.exercises.equal_budget: check_equal_budget (Exercise 5.2) passes a correct answer and names each
known mistake of counting a two-tier table's bytes and of the uniform width of the same bytes."""

import math

import pytest

from tinyrec.exercises.equal_budget import check_equal_budget

from . import assert_names, fails_with, stub


def table_bytes(n_rows, n_head, width, head_bits, tail_width, tail_bits):
    row = lambda w, b: math.ceil(w * b / 8) + 4  # noqa: E731
    basis = tail_width * width * 2 if tail_width < width else 0
    return n_head * row(width, head_bits) + (n_rows - n_head) * row(tail_width, tail_bits) + basis + math.ceil(n_rows / 8)


def uniform_width(budget, n_rows, bits):
    width = 0
    while n_rows * (math.ceil((width + 1) * bits / 8) + 4) <= budget:
        width += 1
    return width


def test_check_equal_budget_passes_a_correct_answer(capsys):
    check_equal_budget(table_bytes, uniform_width)
    out = capsys.readouterr().out
    assert "Correct! table_bytes and uniform_width agree with tinyrec.adaptive.mixed_bytes" in out
    assert "one byte short of it" in out


def _without(part):
    """table_bytes with one term changed: 'scales' (none), 'scales32', 'basis', 'basis32', 'mask', 'mask_bytes',
    'floor', 'unpacked'."""
    def fn(n_rows, n_head, width, head_bits, tail_width, tail_bits):
        scale = {"scales": 0, "scales32": 8}.get(part, 4)
        codes = {"floor": lambda w, b: w * b // 8, "unpacked": lambda w, b: w}.get(part, lambda w, b: math.ceil(w * b / 8))
        basis = tail_width * width * {"basis": 0, "basis32": 4}.get(part, 2) if tail_width < width else 0
        mask = {"mask": 0, "mask_bytes": n_rows}.get(part, math.ceil(n_rows / 8))
        return (n_head * (codes(width, head_bits) + scale) + (n_rows - n_head) * (codes(tail_width, tail_bits) + scale)
                + basis + mask)
    return fn


@pytest.mark.parametrize("part, message", [
    ("scales", "The per-row scales and offsets are missing"),
    ("scales32", "counted in float32 (8 bytes per row)"),
    ("basis", "The projection basis is missing"),
    ("basis32", "The basis is counted in float32"),
    ("mask", "The tier mask is missing"),
    ("mask_bytes", "one byte per row"),
    ("floor", "The codes are rounded down"),
    ("unpacked", "The codes are counted as one byte each"),
])
def test_check_equal_budget_names_byte_mistakes(part, message):
    assert_names(fails_with(check_equal_budget, _without(part), uniform_width), message)


def test_check_equal_budget_names_counting_parameters():
    params = lambda n, h, w, hb, tw, tb: h * w + (n - h) * tw + (tw * w if tw < w else 0)  # noqa: E731
    assert_names(fails_with(check_equal_budget, params, uniform_width), "count of parameters")


@pytest.mark.parametrize("fn, message", [
    (lambda b, n, bits: uniform_width(b, n, bits) + 1, "It rounded up"),
    (lambda b, n, bits: max(w for w in range(4096) if n * math.ceil(w * bits / 8) <= b), "scales and offsets were left out"),
    (lambda b, n, bits: b // n, "budget as a number of parameters"),
    (lambda b, n, bits: b // n - 4, "one byte per entry whatever the bits"),
    (lambda b, n, bits: b / n, "a width is a whole number of dimensions, an int"),
    (lambda b, n, bits: 3, "expected 16, got 3"),
])
def test_check_equal_budget_names_width_mistakes(fn, message):
    assert_names(fails_with(check_equal_budget, table_bytes, fn), message)


def test_check_equal_budget_lets_the_stub_raise():
    with pytest.raises(NotImplementedError):
        check_equal_budget(stub, uniform_width)
    with pytest.raises(NotImplementedError):
        check_equal_budget(table_bytes, stub)
