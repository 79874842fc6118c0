"""Exercise 2.1 (``02_exercise_int8_rows``): row-wise int8 quantization, dequantization and its bytes.

:func:`check_int8_rows` compares the learner's three functions with
``tinyrec.quantize.quantize_rows(weight, 8)`` and its ``nbytes``, and recognises one scale for the whole
matrix, 256 steps instead of 255, a symmetric scale, truncated codes, NaN cast to an integer, the scale
broadcast along the wrong axis, and the usual miscounts of bytes.
"""

import torch
from torch.overrides import TorchFunctionMode

from tinyrec import quantize
from tinyrec.exercises._core import case_error, correct, fn_name, not_an_int, same, short, which_mistake

__all__ = ["check_int8_rows"]


def _rows(*rows):
    """A float32 matrix from rows ``(low, step, positions)``: ``low + step * position`` for each position.

    Positions such as 17.3 or 200.8 sit well away from both the level boundaries (x.5) and the levels, so
    rounding and truncation give unambiguous codes; 0 and 255 put the row's minimum and maximum in."""
    return torch.tensor([[low + step * position for position in positions] for low, step, positions in rows])


INT8_CASES = [  # (name, weight [rows, cols], hint)
    ("three rows with very different ranges",
     _rows((-1.0, 0.01, [0, 17.3, 255, 80.8, 131.2, 200.9]), (0.002, 1e-4, [3.1, 0, 99.7, 255, 12.4, 160.6]),
           (-300.0, 2.0, [255, 0, 44.8, 150.3, 249.7, 7.9])),
     "Row r has its own scale (max_r − min_r) / 255 and offset min_r; each code is the nearest of the 256 levels."),
    ("a constant row, an all-zero row (an item never seen), two ordinary rows",
     _rows((0.3, 0.0, [0, 0, 0, 0]), (0.0, 0.0, [0, 0, 0, 0]), (-0.5, 0.004, [0, 255, 60.2, 190.7]),
           (0.1, 0.001, [33.6, 255, 0, 128.3])),
     "A constant row has max = min: scale 0, every code 0, and the row is reproduced exactly."),
    ("a 40 × 16 random embedding table", torch.randn(40, 16, generator=torch.Generator().manual_seed(2)),
     "The same formula on random rows: every error is at most half its row's step."),
]
DEQUANTIZE_CASES = INT8_CASES[1], INT8_CASES[0]  # the square one first: a scale broadcast per column runs
GLOBAL_SCALE = ("One scale and one offset for the whole matrix: rows with a small range then share a few "
                "levels and lose their detail. Take the min and max of each row: w.min(dim=1), w.max(dim=1).")
INT8_SCALE_MISTAKES = [  # (fn(w) -> [2, rows] = stacked (scale, offset) with this mistake, the diagnosis)
    (lambda w: torch.stack([quantize.quantize_rows(w.reshape(1, -1), 8).scale.expand(len(w)),
                            quantize.quantize_rows(w.reshape(1, -1), 8).offset.expand(len(w))]), GLOBAL_SCALE),
    (lambda w: torch.stack([quantize.quantize_rows(w, 8).scale * 255 / 256, quantize.quantize_rows(w, 8).offset]),
     "The range was divided by 256 instead of 255: 256 levels (codes 0..255) have 255 steps between them. "
     "With step (max − min) / 256 the row maximum needs code 256, which does not fit in uint8: it wraps "
     "to 0 or is clipped to 255."),
]
SYMMETRIC = ("The offset is 0 for every row (a symmetric scale): codes 0..255 then only reach weights ≥ 0, and "
             "every negative weight is clipped to 0 or wraps around. Use offset = the row's minimum, so that "
             "code 0 is the row minimum and code 255 its maximum.")
TRUNCATED = ("The codes were truncated (floor, or .to(torch.uint8) on the unrounded values), not rounded: every "
             "weight falls to the level below it, so the error reaches a whole step. Round to the nearest "
             "level first, torch.round, then clamp to [0, 255] and convert.")
NAN_CAST = ("NaN was converted to an integer dtype: for a constant row max − min = 0, so (w − min) / scale is "
            "0 / 0 = NaN. The conversion happens to give 0 on this CPU, but it is undefined in C and differs "
            "between platforms. Give constant rows scale 0 without dividing by it, e.g. divide by "
            "torch.where(scale > 0, scale, 1).")


class _WatchIntegerCasts(TorchFunctionMode):
    """Records whether a float tensor holding NaN or ±inf is converted to an integer dtype."""

    CASTS = {"to", "type", "byte", "char", "short", "int", "long"}

    def __init__(self):
        super().__init__()
        self.non_finite_cast = False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        source = args[0] if args else None
        if (getattr(func, "__name__", "") in self.CASTS and isinstance(out, torch.Tensor)
                and not (out.is_floating_point() or out.is_complex() or out.dtype == torch.bool)
                and isinstance(source, torch.Tensor) and source.is_floating_point()
                and not torch.isfinite(source).all()):
            self.non_finite_cast = True
        return out


def _diagnose_quantized(result, weight, expected):
    """What is wrong with ``result = (codes, scale, offset)`` for ``weight``, or None."""
    rows, cols = weight.shape
    if not isinstance(result, tuple) or len(result) != 3:
        return "it must return a tuple of three tensors, (codes, scale, offset)."
    codes, scale, offset = result
    for label, value in (("codes", codes), ("scale", scale), ("offset", offset)):
        if not isinstance(value, torch.Tensor):
            return f"{label} is a {type(value).__name__}, not a torch.Tensor."
    if scale.numel() == 1 and rows > 1:
        return f"scale has a single value. {GLOBAL_SCALE}"
    for label, value in (("scale", scale), ("offset", offset)):
        if tuple(value.shape) != (rows,):
            return f"{label} has shape {list(value.shape)}, expected [{rows}]: one value per row."
        if not torch.isfinite(value).all():
            return f"{label} is {short(value)}: not finite. {NAN_CAST}"
    if tuple(codes.shape) != (rows, cols):
        return f"codes have shape {list(codes.shape)}, expected [{rows}, {cols}], the shape of the weight."
    if codes.dtype != torch.uint8:
        return (f"codes are {codes.dtype}, not torch.uint8. A {codes.dtype} code takes {codes.element_size()} "
                "byte(s), a uint8 one 1 byte (values 0..255, where int8 holds −128..127): round, clamp to "
                "[0, 255], then .to(torch.uint8).")
    for label, value in (("scale", scale), ("offset", offset)):
        if value.dtype != torch.float32:
            return (f"{label} is {value.dtype}: store it as float32 (4 bytes per row; float64 doubles the "
                    "overhead for precision the codes cannot use).")
    got = torch.stack([scale, offset])
    if not same(got, torch.stack([expected.scale, expected.offset]), rtol=1e-5, atol=1e-9):
        low = weight.min(dim=1).values
        if (offset == 0).all() and (low != 0).any():
            return SYMMETRIC
        return (which_mistake(got, INT8_SCALE_MISTAKES, weight, rtol=1e-5, atol=1e-9)
                or f"expected scale {short(expected.scale)} and offset {short(expected.offset)}, got scale "
                   f"{short(scale)} and offset {short(offset)}.")
    step = scale.double()[:, None]
    error = (weight.double() - (offset.double()[:, None] + step * codes.double())) / step.clamp(min=1e-30)
    tolerance = 1e-3  # in steps: float32 rounding, far below the half step the check is about
    if (error.abs() <= 0.5 + tolerance).all():
        return None
    if (error >= -tolerance).all() and (error <= 1 + tolerance).all():
        return TRUNCATED
    r, c = divmod(int(error.abs().argmax()), cols)
    return (f"row {r}, column {c}: w = {weight[r, c].item():.6g} got code {codes[r, c].item()}, which decodes to "
            f"{(offset[r] + scale[r] * codes[r, c].float()).item():.6g}: an error of {error[r, c].abs().item():.2f} "
            "steps, more than the half step that rounding to the nearest level allows.")


DEQUANTIZE_MISTAKES = [  # (fn(codes, scale, offset) with this mistake, the diagnosis)
    (lambda codes, scale, offset: offset[None, :] + scale[None, :] * codes.float(),
     "Scale and offset were broadcast along the columns: scale has one value per *row*, so it must become a "
     "column, scale[:, None] (shape [rows, 1]), before it multiplies codes [rows, cols]."),
    (lambda codes, scale, offset: scale[:, None] * codes.float(),
     "The offset is missing: w ≈ offset + scale · code, and code 0 stands for the row minimum, not for 0."),
    (lambda codes, scale, offset: offset[:, None] + codes.float() / scale[:, None],
     "The codes were divided by the scale: quantizing divides by it, dequantizing multiplies."),
]


def _diagnose_dequantized(result, q):
    """What is wrong with ``result``, the learner's dequantization of ``q``'s codes, or None."""
    expected = q.dequantize()
    if not isinstance(result, torch.Tensor):
        return f"it returned a {type(result).__name__}, not a torch.Tensor."
    if not result.is_floating_point():
        return f"it returned a {result.dtype} tensor: convert the codes to float before scaling them."
    if tuple(result.shape) != tuple(expected.shape):
        return f"it returned shape {list(result.shape)}, expected {list(expected.shape)}."
    if not torch.isfinite(result).all():
        return (f"it returned non-finite values, {short(result)}. A constant row has scale 0: dequantizing "
                "multiplies by the scale (0 · code = 0), it never divides by it.")
    if same(result, expected, rtol=1e-5, atol=1e-6):
        return None
    return (which_mistake(result, DEQUANTIZE_MISTAKES, q.codes(), q.scale, q.offset, rtol=1e-5, atol=1e-6)
            or f"expected {short(expected)}, got {short(result)}.")


NBYTES_MISTAKES = [  # (fn(rows, cols) with this mistake, the diagnosis)
    (lambda rows, cols: rows * cols,
     "Only the codes were counted: each row also stores its scale and offset, float32, 8 bytes per row."),
    (lambda rows, cols: rows * cols + 16 * rows,
     "Scale and offset counted as float64 (8 bytes each): they are float32, 4 bytes each."),
    (lambda rows, cols: rows * cols + 4 * rows,
     "Only one of scale and offset counted: each row stores both, 4 bytes each."),
    (lambda rows, cols: rows * cols + 8,
     "One scale and offset for the whole matrix: there is one pair per row."),
    (lambda rows, cols: 4 * rows * cols + 8 * rows,
     "Codes counted at 4 bytes: a uint8 code takes 1 byte."),
    (lambda rows, cols: 8 * rows * cols + 8 * rows,
     "Codes counted at 8 bytes (int64): a uint8 code takes 1 byte."),
]
NBYTES_CASES = [  # (name, rows, cols, hint)
    ("a 3 × 6 matrix", 3, 6, "18 one-byte codes, plus a float32 scale and offset for each of the 3 rows."),
    ("the EASE matrix, 1,682 × 1,682", 1682, 1682, "1,682² codes and 1,682 pairs (scale, offset)."),
    ("an item embedding table, 1,682 × 64", 1682, 64,
     "Short rows: the 8 bytes per row now cost an eighth of the codes."),
]


def check_int8_rows(quantize_int8_rows, dequantize_int8_rows, int8_rows_nbytes):
    """Check Exercise 2.1 against ``tinyrec.quantize.quantize_rows(weight, 8)``: ``quantize_int8_rows(w)
    -> (codes uint8 [rows, cols], scale float32 [rows], offset float32 [rows])`` with every error at most
    half a step, ``dequantize_int8_rows(codes, scale, offset) -> float [rows, cols]``, and
    ``int8_rows_nbytes(rows, cols)``, the bytes of codes, scales and offsets (``RowQuantized.nbytes``)."""
    name = fn_name(quantize_int8_rows)
    for case, weight, hint in INT8_CASES:
        expected = quantize.quantize_rows(weight, 8)
        given = weight.clone()
        watch = _WatchIntegerCasts()
        with watch:
            result = quantize_int8_rows(given)
        call = f"{name}({short(weight) if weight.numel() <= 24 else 'weight of shape ' + str(list(weight.shape))})"
        problem = _diagnose_quantized(result, weight, expected)
        if not problem and not torch.equal(given, weight):
            problem = "it changed its input in place: leave weight unchanged (no in-place ops such as sub_)."
        if not problem and watch.non_finite_cast:
            problem = NAN_CAST
        if problem:
            raise case_error(case, call, problem, hint)
    name = fn_name(dequantize_int8_rows)
    for case, weight, _ in DEQUANTIZE_CASES:
        q = quantize.quantize_rows(weight, 8)
        call = f"{name}(codes={short(q.codes())}, scale={short(q.scale)}, offset={short(q.offset)})"
        hint = "ŵ = offset[:, None] + scale[:, None] * codes.float(): one scale and offset per row."
        try:
            result = dequantize_int8_rows(q.codes(), q.scale.clone(), q.offset.clone())
        except NotImplementedError:  # the exercise's stub (a RuntimeError too)
            raise
        except RuntimeError as error:
            raise case_error(f"dequantizing {case}", call, f"it raised RuntimeError: {error}", hint) from error
        problem = _diagnose_dequantized(result, q)
        if problem:
            raise case_error(f"dequantizing {case}", call, problem, hint)
    name = fn_name(int8_rows_nbytes)
    for case, rows, cols, hint in NBYTES_CASES:
        expected = quantize.quantize_rows(torch.zeros(rows, cols), 8).nbytes
        result = int8_rows_nbytes(rows, cols)
        problem = not_an_int(result)
        if not problem and result != expected:
            problem = (which_mistake(result, NBYTES_MISTAKES, rows, cols, rtol=0, atol=0)
                       or f"expected {expected:,} bytes, got {result:,}.")
        if problem:
            raise case_error(case, f"{name}({rows}, {cols})", problem, hint)
    correct(f"{fn_name(quantize_int8_rows)}, {fn_name(dequantize_int8_rows)} and {name}",
            "tinyrec.quantize.quantize_rows(weight, 8)",
            [case[0] for case in INT8_CASES] + [f"dequantizing {case[0]}" for case in DEQUANTIZE_CASES]
            + [f"bytes of {case[0]}" for case in NBYTES_CASES])
