"""tinyrec.exercises.int8_rows: check_int8_rows (Exercise 2.1) passes a correct answer and names each known
mistake of the quantization, the dequantization and the byte count."""

import pytest
import torch

from tinyrec.exercises import int8_rows as exercise
from tinyrec.exercises.int8_rows import check_int8_rows

from . import assert_names, fails_with, stub


def quantize(weight, levels=255, per_row=True, offset=True, rounding=torch.round, guard=True, clamp=True,
             codes_dtype=torch.uint8, scale_dtype=torch.float32):
    """quantize_int8_rows with the given mistakes (the defaults make none)."""
    if per_row:
        low, high = weight.min(dim=1).values, weight.max(dim=1).values
    else:
        low, high = weight.min().expand(len(weight)), weight.max().expand(len(weight))
    if not offset:
        low, high = torch.zeros_like(low), weight.abs().max(dim=1).values
    scale = (high - low) / levels
    divisor = torch.where(scale > 0, scale, torch.ones_like(scale)) if guard else scale
    codes = rounding((weight - low[:, None]) / divisor[:, None])
    codes = codes.clamp(0, 255) if clamp else codes
    return codes.to(codes_dtype), scale.to(scale_dtype), low.to(scale_dtype)


def quantize_in_place(weight):
    """Right codes, scale and offset, but the rows are shifted to start at 0 in the caller's tensor."""
    low = weight.min(dim=1).values
    codes, scale, _ = quantize(weight.sub_(low[:, None]))
    return codes, scale, low


def dequantize(codes, scale, offset):
    return offset[:, None] + scale[:, None] * codes.float()


def nbytes(rows, cols):
    return rows * cols + 8 * rows


def test_check_int8_rows_passes_a_correct_answer(capsys):
    check_int8_rows(quantize, dequantize, nbytes)
    assert "Correct! quantize, dequantize and nbytes agree with tinyrec.quantize.quantize_rows" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda w: quantize(w, per_row=False), "One scale and one offset for the whole matrix"),
    (lambda w: (quantize(w)[0], w.max() - w.min(), w.min()), "scale has a single value. One scale"),
    (lambda w: quantize(w, rounding=torch.floor), "The codes were truncated"),
    (lambda w: quantize(w, rounding=lambda x: x), "The codes were truncated"),  # .to(uint8) truncates
    (lambda w: quantize(w, levels=256), "divided by 256 instead of 255"),
    (lambda w: quantize(w, levels=256, clamp=False), "divided by 256 instead of 255"),
    (lambda w: quantize(w, offset=False), "The offset is 0 for every row"),
    (lambda w: quantize(w, guard=False), "NaN was converted to an integer dtype"),
    (lambda w: quantize(w, codes_dtype=torch.float32), "codes are torch.float32, not torch.uint8"),
    (lambda w: quantize(w, codes_dtype=torch.int64), "A torch.int64 code takes 8 byte(s)"),
    (lambda w: quantize(w, scale_dtype=torch.float64), "scale is torch.float64: store it as float32"),
    (lambda w: quantize(w)[:2], "a tuple of three tensors"),
    (lambda w: quantize_in_place(w), "changed its input in place"),
])
def test_check_int8_rows_names_quantize_mistakes(fn, message):
    assert_names(fails_with(check_int8_rows, fn, dequantize, nbytes), message)


@pytest.mark.parametrize("fn, message", [
    (lambda codes, scale, offset: offset[None, :] + scale[None, :] * codes.float(), "broadcast along the columns"),
    (lambda codes, scale, offset: scale[:, None] * codes.float(), "The offset is missing"),
    (lambda codes, scale, offset: offset[:, None] + codes.float() / scale[:, None], "it never divides by it"),
    (lambda codes, scale, offset: (offset[:, None] + scale[:, None] * codes.float()).to(torch.int64), "torch.int64"),
])
def test_check_int8_rows_names_dequantize_mistakes(fn, message):
    text = fails_with(check_int8_rows, quantize, fn, nbytes)
    assert_names(text, message)
    assert text.startswith("Case 'dequantizing a constant row")


@pytest.mark.parametrize("fn, message", [
    (lambda rows, cols: rows * cols, "Only the codes were counted"),
    (lambda rows, cols: rows * cols + 16 * rows, "counted as float64"),
    (lambda rows, cols: rows * cols + 4 * rows, "Only one of scale and offset"),
    (lambda rows, cols: rows * cols + 8, "One scale and offset for the whole matrix"),
    (lambda rows, cols: 4 * rows * cols + 8 * rows, "Codes counted at 4 bytes"),
    (lambda rows, cols: 8 * rows * cols + 8 * rows, "Codes counted at 8 bytes"),
    (lambda rows, cols: float(rows * cols + 8 * rows), "return a whole number of bytes, an int"),
    (lambda rows, cols: rows * cols + 8 * rows + 1, "expected 42 bytes, got 43"),
])
def test_check_int8_rows_names_nbytes_mistakes(fn, message):
    assert_names(fails_with(check_int8_rows, quantize, dequantize, fn), message)


def test_int8_cases_keep_every_weight_away_from_level_boundaries():
    """Rounding and truncation must give unambiguous codes on the hand-built cases."""
    for _, weight, _ in exercise.INT8_CASES[:2]:
        q = quantize(weight)
        position = (weight.double() - q[2].double()[:, None]) / q[1].double().clamp(min=1e-30)[:, None]
        fraction = position - position.floor()
        distance = torch.minimum((fraction - 0.5).abs(), torch.minimum(fraction, 1 - fraction))
        assert ((distance > 0.05) | (fraction < 1e-3) | (fraction > 1 - 1e-3)).all()


@pytest.mark.parametrize("arguments", [(stub, dequantize, nbytes), (quantize, stub, nbytes), (quantize, dequantize, stub)],
                         ids=["quantize", "dequantize", "nbytes"])
def test_check_int8_rows_lets_the_exercise_stub_raise(arguments):
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_int8_rows(*arguments)
