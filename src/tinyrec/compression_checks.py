"""The checks that end Chapter 2's exercises (compression), in the pattern of :mod:`tinyrec.checks`.

Each check runs the learner's code on hand-picked cases and compares it with the library
(:mod:`tinyrec.quantize`, :mod:`tinyrec.prune`; for the QR embedding, the three lines of torch of
:func:`_qr_reference`). When they differ, it computes what each *known mistake* would give on the same
case — written with the library too — and names the one that matches:
``AssertionError("Case '<case>': <call>\\n<what is wrong>\\nHint: <hint>")``. A correct answer gets
"Correct! ..." and the cases it passed; the exercise's stub, ``raise NotImplementedError``, propagates.

* :func:`check_int8_rows` — Exercise 2.1, row-wise int8 quantization, dequantization and its bytes.
* :func:`check_global_pruning` — Exercise 2.2, magnitude pruning ranked across several tensors.
* :func:`check_break_even` — Exercise 2.3, CSR bytes and the density below which CSR is smaller.
* :func:`check_qr_embedding` — Exercise 2.4, the quotient-remainder embedding (Shi et al., KDD 2020).
"""

import math
import numbers

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tinyrec import prune, quantize
from tinyrec.checks import _case_error, _correct, _name, _same, _short, _which_mistake

__all__ = ["check_int8_rows", "check_global_pruning", "check_break_even", "check_qr_embedding"]


def _not_an_int(result):
    """What is wrong when ``result`` is not a Python (or NumPy) integer, or None."""
    if isinstance(result, bool) or not isinstance(result, numbers.Integral):
        return f"it returned {result!r} ({type(result).__name__}): return a whole number of bytes, an int."
    return None


# ----------------------------------------------------------------------------------------------------------
# Exercise 2.1: row-wise int8, w ≈ offset[r] + scale[r] * code with offset = row min, scale = (max - min) / 255


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
            return f"{label} is {_short(value)}: not finite. {NAN_CAST}"
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
    if not _same(got, torch.stack([expected.scale, expected.offset]), rtol=1e-5, atol=1e-9):
        low = weight.min(dim=1).values
        if (offset == 0).all() and (low != 0).any():
            return SYMMETRIC
        return (_which_mistake(got, INT8_SCALE_MISTAKES, weight, rtol=1e-5, atol=1e-9)
                or f"expected scale {_short(expected.scale)} and offset {_short(expected.offset)}, got scale "
                   f"{_short(scale)} and offset {_short(offset)}.")
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
        return (f"it returned non-finite values, {_short(result)}. A constant row has scale 0: dequantizing "
                "multiplies by the scale (0 · code = 0), it never divides by it.")
    if _same(result, expected, rtol=1e-5, atol=1e-6):
        return None
    return (_which_mistake(result, DEQUANTIZE_MISTAKES, q.codes(), q.scale, q.offset, rtol=1e-5, atol=1e-6)
            or f"expected {_short(expected)}, got {_short(result)}.")


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
    name = _name(quantize_int8_rows)
    for case, weight, hint in INT8_CASES:
        expected = quantize.quantize_rows(weight, 8)
        given = weight.clone()
        watch = _WatchIntegerCasts()
        with watch:
            result = quantize_int8_rows(given)
        call = f"{name}({_short(weight) if weight.numel() <= 24 else 'weight of shape ' + str(list(weight.shape))})"
        problem = _diagnose_quantized(result, weight, expected)
        if not problem and not torch.equal(given, weight):
            problem = "it changed its input in place: leave weight unchanged (no in-place ops such as sub_)."
        if not problem and watch.non_finite_cast:
            problem = NAN_CAST
        if problem:
            raise _case_error(case, call, problem, hint)
    name = _name(dequantize_int8_rows)
    for case, weight, _ in DEQUANTIZE_CASES:
        q = quantize.quantize_rows(weight, 8)
        call = f"{name}(codes={_short(q.codes())}, scale={_short(q.scale)}, offset={_short(q.offset)})"
        hint = "ŵ = offset[:, None] + scale[:, None] * codes.float(): one scale and offset per row."
        try:
            result = dequantize_int8_rows(q.codes(), q.scale.clone(), q.offset.clone())
        except NotImplementedError:  # the exercise's stub (a RuntimeError too)
            raise
        except RuntimeError as error:
            raise _case_error(f"dequantizing {case}", call, f"it raised RuntimeError: {error}", hint) from error
        problem = _diagnose_dequantized(result, q)
        if problem:
            raise _case_error(f"dequantizing {case}", call, problem, hint)
    name = _name(int8_rows_nbytes)
    for case, rows, cols, hint in NBYTES_CASES:
        expected = quantize.quantize_rows(torch.zeros(rows, cols), 8).nbytes
        result = int8_rows_nbytes(rows, cols)
        problem = _not_an_int(result)
        if not problem and result != expected:
            problem = (_which_mistake(result, NBYTES_MISTAKES, rows, cols, rtol=0, atol=0)
                       or f"expected {expected:,} bytes, got {result:,}.")
        if problem:
            raise _case_error(case, f"{name}({rows}, {cols})", problem, hint)
    _correct(f"{_name(quantize_int8_rows)}, {_name(dequantize_int8_rows)} and {name}",
             "tinyrec.quantize.quantize_rows(weight, 8)",
             [case[0] for case in INT8_CASES] + [f"dequantizing {case[0]}" for case in DEQUANTIZE_CASES]
             + [f"bytes of {case[0]}" for case in NBYTES_CASES])


# ----------------------------------------------------------------------------------------------------------
# Exercise 2.2: global magnitude pruning, the largest |w| kept across all the tensors together


def _flat(tensors):
    return torch.cat([t.detach().flatten() for t in tensors])


def _keeping(values, keep):
    """``prune.magnitude_mask`` of ``values`` keeping exactly ``keep`` entries (a count, not a sparsity)."""
    return prune.magnitude_mask(values, (values.numel() - keep) / values.numel())


def _n_keep(weights, sparsity):
    return prune._n_keep(sum(w.numel() for w in weights), sparsity)


def _threshold_masks(weights, sparsity, keep_ties):
    """Flat mask ``|w| >= t`` (``keep_ties``) or ``|w| > t``, t the smallest magnitude the library keeps."""
    flat = _flat(weights).abs()
    kept = flat[prune.magnitude_mask(flat, sparsity)]
    threshold = kept.min() if len(kept) else math.inf
    return flat >= threshold if keep_ties else flat > threshold


PRUNING_MISTAKES = [  # (fn(weights, sparsity) -> the flattened masks with this mistake, the diagnosis)
    (lambda ws, s: _flat([prune.magnitude_mask(w, s) for w in ws]),
     "Each tensor was pruned on its own at the same sparsity. Global pruning ranks the magnitudes of all "
     "the tensors together — concatenate them (torch.cat of the flattened tensors), keep the largest, split "
     "the mask back — so a tensor of small weights loses more than a tensor of large ones."),
    (lambda ws, s: ~_keeping(_flat(ws), sum(w.numel() for w in ws) - _n_keep(ws, s)),
     "It kept the *smallest* magnitudes: magnitude pruning removes the smallest |w| and keeps the largest "
     "(topk(..., largest=True), or argsort(descending=True))."),
    (lambda ws, s: prune.magnitude_mask(_flat(ws) - _flat(ws).min(), s),
     "It ranked the signed values, so large *negative* weights were pruned: rank by magnitude, w.abs()."),
    (lambda ws, s: prune.magnitude_mask(_flat(ws), 1 - s),
     "It kept a fraction `sparsity` of the entries: sparsity is the fraction set to zero, so keep "
     "total − round(sparsity · total) entries."),
    (lambda ws, s: _threshold_masks(ws, s, keep_ties=True),
     "Ties at the threshold were all kept: with |w| >= t, every weight whose magnitude equals the threshold "
     "survives, so more entries than asked are kept. Rank the entries (argsort or topk) and keep exactly "
     "the first total − round(sparsity · total)."),
    (lambda ws, s: _threshold_masks(ws, s, keep_ties=False),
     "Ties at the threshold were all pruned: with |w| > t, every weight whose magnitude equals the "
     "threshold goes, so fewer entries than asked are kept. Rank the entries (argsort or topk) and keep "
     "exactly the first total − round(sparsity · total)."),
]
_g = torch.Generator().manual_seed(3)


def _sign(*shape):
    """Random signs ±1 of ``shape``."""
    return torch.where(torch.rand(*shape, generator=_g) < 0.5, -1.0, 1.0)


PRUNING_CASES = [  # (name, weights, sparsity, whether magnitudes tie, hint)
    ("a user table of small weights and an item table of large ones, sparsity 0.5",
     [(0.05 + 0.3 * torch.rand(3, 4, generator=_g)) * _sign(3, 4), (0.5 + 2.5 * torch.rand(4, 4, generator=_g))
      * _sign(4, 4)], 0.5, False,
     "28 weights, keep 14: the 14 largest |w| of both tables together, wherever they are."),
    ("three tensors of different shapes (a bias too), sparsity 0.7",
     [torch.randn(2, 5, generator=_g), torch.randn(3, generator=_g), torch.randn(4, 2, generator=_g)], 0.7, False,
     "21 weights: round(0.7 · 21) = round(14.7) = 15 are pruned, 6 kept."),
    ("ties: exact zeros and five weights of magnitude 0.5, sparsity 0.5",
     [torch.tensor([[0.0, 0.0, 0.5, -0.5], [2.0, -1.0, 0.5, 0.0]]), torch.tensor([1.0, -0.5, 0.5, 3.0])], 0.5, True,
     "Keep 6 of 12: 3, 2, 1, −1, and any 2 of the five weights of magnitude 0.5."),
    ("sparsity 0: nothing pruned", [torch.randn(3, 3, generator=_g), torch.randn(5, generator=_g)], 0.0, False,
     "Sparsity 0 keeps every entry."),
]


def _diagnose_masks(result, weights, sparsity, ties):
    """What is wrong with ``result``, the learner's masks for ``weights`` at ``sparsity``, or None."""
    if not isinstance(result, (list, tuple)) or len(result) != len(weights):
        return f"it must return a list of {len(weights)} masks, one per tensor, got {type(result).__name__}."
    for k, (mask, weight) in enumerate(zip(result, weights)):
        if not isinstance(mask, torch.Tensor):
            return f"mask {k} is a {type(mask).__name__}, not a torch.Tensor."
        if tuple(mask.shape) != tuple(weight.shape):
            return f"mask {k} has shape {list(mask.shape)}; it must have its tensor's shape, {list(weight.shape)}."
        if mask.dtype != torch.bool:
            return (f"mask {k} is {mask.dtype}: return torch.bool masks (w[mask] selects with a bool mask only, "
                    "and a bool takes one byte where a float32 takes four).")
    kept, magnitude = _flat(result), _flat(weights).abs()
    keep = _n_keep(weights, sparsity)
    if ties:  # any choice among the tied magnitudes is right
        if int(kept.sum()) == keep and (kept.all() or magnitude[kept].min() >= magnitude[~kept].max()):
            return None
    elif torch.equal(kept, _flat(prune.global_magnitude_masks(weights, sparsity))):
        return None
    mistake = _which_mistake(kept, PRUNING_MISTAKES, weights, sparsity, rtol=0, atol=0)
    if mistake:
        return mistake
    total = magnitude.numel()
    if int(kept.sum()) != keep:
        floor = total - int(sparsity * total)
        reason = (" int() truncates sparsity · total; use round()." if int(kept.sum()) == floor != keep else "")
        return (f"it kept {int(kept.sum())} of {total} entries, expected total − round(sparsity · total) = "
                f"{total} − {round(sparsity * total)} = {keep}.{reason}")
    return (f"it kept {keep} entries, but not the largest: a kept |w| = {magnitude[kept].min().item():.4g} is "
            f"smaller than a pruned |w| = {magnitude[~kept].max().item():.4g}.")


def check_global_pruning(global_magnitude_masks):
    """Check ``global_magnitude_masks(weights, sparsity) -> [bool masks]`` (one per tensor, same shapes,
    ``total − round(sparsity · total)`` entries kept, the largest |w| across all tensors) against
    ``tinyrec.prune.global_magnitude_masks`` (which, without ties, is also what
    ``torch.nn.utils.prune.global_unstructured`` keeps); with ties, any choice among the tied weights
    passes. A sparsity outside [0, 1] must raise ``ValueError``."""
    name = _name(global_magnitude_masks)
    for case, weights, sparsity, ties, hint in PRUNING_CASES:
        given = [w.clone() for w in weights]
        call = f"{name}([{', '.join(_short(w) for w in weights)}], sparsity={sparsity})"
        try:
            result = global_magnitude_masks(given, sparsity)
        except NotImplementedError:  # the exercise's stub (a RuntimeError too)
            raise
        except (RuntimeError, IndexError) as error:
            raise _case_error(case, call, f"it raised {type(error).__name__}: {error}. At sparsity {sparsity} "
                              f"{_n_keep(weights, sparsity)} entries are kept; choose them by ranking (argsort "
                              "or topk), which has no special case.", hint) from error
        problem = _diagnose_masks(result, weights, sparsity, ties)
        if not problem and not all(torch.equal(a, b) for a, b in zip(given, weights)):
            problem = "it changed the weights in place: return masks and leave the weights unchanged."
        if problem:
            raise _case_error(case, call, problem, hint)
    weights = PRUNING_CASES[0][1]
    try:
        global_magnitude_masks([w.clone() for w in weights], 1.5)
    except ValueError:
        pass
    else:
        raise _case_error("sparsity 1.5 is rejected", f"{name}(weights, sparsity=1.5)",
                          "it did not raise ValueError: a sparsity is a fraction in [0, 1].",
                          "if not 0 <= sparsity <= 1: raise ValueError(...)")
    _correct(name, "tinyrec.prune.magnitude_mask on the concatenated tensors",
             [case[0] for case in PRUNING_CASES] + ["sparsity 1.5 is rejected"])


# ----------------------------------------------------------------------------------------------------------
# Exercise 2.3: CSR bytes, nnz (values + column indices) + (rows + 1) row pointers, and its break-even density

# Each mistake is a change to how tinyrec.prune.csr_nbytes is called: (fn(rows, cols, nnz, v, i, p), diagnosis).
CSR_MISTAKES = [
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(rows, nnz, v, i, 0),
     "The row pointers are missing: CSR stores rows + 1 of them, pointer_bytes each (row r's entries are "
     "values[pointers[r]:pointers[r + 1]])."),
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(rows - 1, nnz, v, i, p),
     "rows pointers instead of rows + 1: the last row needs an end too, pointers[rows] = nnz."),
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(cols, nnz, v, i, p),
     "(cols + 1) pointers: that is CSC, compressed *columns*. CSR has one pointer per row, plus one."),
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(rows, nnz, v, 0, p),
     "The column indices are missing: every stored value needs its column, index_bytes each."),
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(rows, nnz, v, 0, p) + rows * i,
     "One column index per row: there is one per stored value (nnz of them); the rows have pointers."),
    (lambda rows, cols, nnz, v, i, p: prune.csr_nbytes(rows, nnz, v, p, i),
     "index_bytes and pointer_bytes swapped: column indices (one per value) take index_bytes, row pointers "
     "(rows + 1) take pointer_bytes."),
]
CSR_CASES = [  # (name, (rows, cols, nnz, value_bytes, index_bytes, pointer_bytes), hint)
    ("3 × 4 with 5 non-zeros, float32 values, int32 indices", (3, 4, 5, 4, 4, 4),
     "5 values and 5 column indices at 4 bytes, and 3 + 1 = 4 row pointers at 4 bytes: 56 bytes."),
    ("4 × 6 with 7 non-zeros, fp16 values, int16 indices, int64 pointers", (4, 6, 7, 2, 2, 8),
     "7 × (2 + 2) bytes of values and indices, (4 + 1) × 8 bytes of pointers."),
    ("the EASE matrix, 1,682 × 1,682, 10% dense, int16 indices", (1682, 1682, 282_912, 4, 2, 4),
     "282,912 × (4 + 2) bytes, plus 1,683 pointers of 4 bytes."),
    ("5 × 3 without any non-zero", (5, 3, 0, 4, 4, 4), "An empty matrix still stores its 5 + 1 row pointers."),
]


def _csr_variant_density(nbytes, rows, cols, v, i, p):
    """The density at which ``nbytes(rows, cols, nnz, v, i, p)`` (affine in nnz) equals the dense bytes."""
    base = nbytes(rows, cols, 0, v, i, p)
    per_value = nbytes(rows, cols, 1, v, i, p) - base
    return (rows * cols * v - base) / per_value / (rows * cols)


BREAK_EVEN_MISTAKES = [  # (fn(rows, cols, v, i, p) with this mistake, the diagnosis)
    (lambda rows, cols, v, i, p: 1 - prune.sparse_break_even(rows, cols, v, i, p),
     "It returned a sparsity, 1 − density: return the *density* (non-zeros / entries) below which CSR is "
     "smaller."),
    (lambda rows, cols, v, i, p: rows * cols * prune.sparse_break_even(rows, cols, v, i, p),
     "It returned a number of non-zeros: divide by rows · cols to get a density."),
    (lambda rows, cols, v, i, p: 100 * prune.sparse_break_even(rows, cols, v, i, p),
     "It returned a percentage: return a fraction between 0 and 1."),
    (lambda rows, cols, v, i, p: (rows * cols * 4 - (rows + 1) * p) / ((v + i) * rows * cols),
     "The dense matrix was counted at 4 bytes per value: it stores value_bytes per entry (2 for fp16), "
     "like the CSR values."),
    (lambda rows, cols, v, i, p: max(0.0, prune.sparse_break_even(rows, cols, v, i, p)),
     "It was clamped at 0: when the row pointers alone outweigh the dense matrix the break-even density is "
     "negative, which says that CSR never pays. Return the value of the formula."),
] + [(lambda rows, cols, v, i, p, f=f: _csr_variant_density(f, rows, cols, v, i, p), "Its CSR size is wrong. " + text)
     for f, text in CSR_MISTAKES]
BREAK_EVEN_CASES = [  # (name, (rows, cols, value_bytes, index_bytes, pointer_bytes), hint)
    ("3 × 5, float32 values, int32 indices", (3, 5, 4, 4, 4),
     "Dense: 60 bytes. CSR: 8 bytes per non-zero + 16 bytes of pointers. Equal at nnz = 5.5, density 0.367."),
    ("the EASE matrix, 1,682 × 1,682, float32 values, int16 indices", (1682, 1682, 4, 2, 4),
     "About 4 / (4 + 2): each kept value costs 6 bytes instead of 4."),
    ("the EASE matrix, fp16 values, int16 indices", (1682, 1682, 2, 2, 4),
     "About 2 / (2 + 2): with fp16 values an int16 index doubles the bytes of each kept value."),
    ("a column vector, 1,000 × 1: CSR never pays", (1000, 1, 4, 4, 4),
     "Dense: 4,000 bytes; the 1,001 row pointers alone take 4,004: the break-even density is negative."),
]


def check_break_even(csr_bytes, break_even_density):
    """Check ``csr_bytes(rows, cols, nnz, value_bytes=4, index_bytes=4, pointer_bytes=4)`` against
    ``tinyrec.prune.csr_nbytes`` (and ``ValueError`` for nnz outside [0, rows · cols]), then
    ``break_even_density(rows, cols, value_bytes=4, index_bytes=4, pointer_bytes=4)`` against
    ``tinyrec.prune.sparse_break_even``."""
    name = _name(csr_bytes)
    for case, (rows, cols, nnz, v, i, p), hint in CSR_CASES:
        expected = prune.csr_nbytes(rows, nnz, v, i, p)
        result = csr_bytes(rows, cols, nnz, value_bytes=v, index_bytes=i, pointer_bytes=p)
        problem = _not_an_int(result)
        if not problem and result != expected:
            problem = (_which_mistake(result, CSR_MISTAKES, rows, cols, nnz, v, i, p, rtol=0, atol=0)
                       or f"expected {expected:,} bytes, got {result:,}.")
        if problem:
            call = f"{name}({rows}, {cols}, {nnz}, value_bytes={v}, index_bytes={i}, pointer_bytes={p})"
            raise _case_error(case, call, problem, hint)
    for nnz in (7, -1):
        try:
            csr_bytes(2, 3, nnz)
        except ValueError:
            continue
        raise _case_error(f"nnz = {nnz} in a 2 × 3 matrix", f"{name}(2, 3, {nnz})",
                          "it did not raise ValueError: a 2 × 3 matrix has between 0 and 6 non-zeros.",
                          "if not 0 <= nnz <= rows * cols: raise ValueError(...)")
    for case, (rows, cols, v, i, p), hint in BREAK_EVEN_CASES:
        expected = prune.sparse_break_even(rows, cols, v, i, p)
        result = break_even_density(rows, cols, value_bytes=v, index_bytes=i, pointer_bytes=p)
        problem = None
        if isinstance(result, bool) or not isinstance(result, numbers.Real):
            problem = f"it returned {result!r} ({type(result).__name__}): return the density as a float."
        elif not _same(result, expected, rtol=1e-6, atol=1e-9):
            problem = (_which_mistake(result, BREAK_EVEN_MISTAKES, rows, cols, v, i, p, rtol=1e-6, atol=1e-9)
                       or f"expected {expected:.6f}, got {result:.6f}.")
        if problem:
            call = (f"{_name(break_even_density)}({rows}, {cols}, value_bytes={v}, index_bytes={i}, "
                    f"pointer_bytes={p})")
            raise _case_error(case, call, problem, hint)
    _correct(f"{name} and {_name(break_even_density)}", "tinyrec.prune.csr_nbytes and sparse_break_even",
             [case[0] for case in CSR_CASES] + ["nnz outside [0, rows · cols] is rejected"]
             + [case[0] for case in BREAK_EVEN_CASES])


# ----------------------------------------------------------------------------------------------------------
# Exercise 2.4: the quotient-remainder embedding, e(i) = quotient[i // m] * remainder[i % m]


def _qr_reference(quotient, remainder, indices, buckets):
    """Shi et al.'s QR embedding with the element-wise product: ``[..., dim]`` for ``indices`` long ``[...]``."""
    return quotient[indices // buckets] * remainder[indices % buckets]


def _rows_of(table, index):
    """``table[index]``, or ValueError when an index is out of range (so that the mistake is skipped)."""
    if index.max() >= len(table):
        raise ValueError("index out of range")
    return table[index]


QR_MISTAKES = [  # (fn(quotient, remainder, indices, buckets) with this mistake, the diagnosis)
    (lambda q, r, i, m: _rows_of(q, i % m) * _rows_of(r, i % m),
     "Both tables were indexed by i % m: items i and i + m then share both rows and get the same embedding. "
     "The quotient table takes i // m."),
    (lambda q, r, i, m: _rows_of(q, i // m) * _rows_of(r, i // m),
     "Both tables were indexed by i // m: the m items of a block share both rows. The remainder table takes "
     "i % m."),
    (lambda q, r, i, m: _rows_of(q, i % m) * _rows_of(r, i // m),
     "The tables were swapped: the quotient table (ceil(n / m) rows) takes i // m, the remainder table "
     "(m rows) takes i % m."),
    (lambda q, r, i, m: _rows_of(q, i // m) + _rows_of(r, i % m),
     "The two rows were added. Addition is a valid operation in Shi et al.'s paper (so is concatenation), "
     "but this exercise asks for the element-wise product, quotient[i // m] * remainder[i % m]."),
    (lambda q, r, i, m: _rows_of(r, i % m),
     "Only the remainder table was used: that is the hashing trick, e(i) = E[i % m], where items i and "
     "i + m collide. The quotient row is what tells them apart: multiply by quotient[i // m]."),
    (lambda q, r, i, m: _rows_of(q, i // m),
     "Only the quotient table was used: the m items of a block share one embedding. Multiply by "
     "remainder[i % m]."),
]
QR_CASES = [  # (name, num_embeddings, dim, buckets, hint)
    ("9 items, 3 buckets, dim 4", 9, 4, 3,
     "3 quotient rows and 3 remainder rows: item 7 = 2 · 3 + 1 gets quotient[2] * remainder[1]."),
    ("10 items, 3 buckets, dim 2: the last quotient row holds one item", 10, 2, 3,
     "ceil(10 / 3) = 4 quotient rows: item 9 = 3 · 3 + 0 needs quotient[3]."),
    ("1,682 items, 41 buckets, dim 8", 1682, 8, 41, "ceil(1682 / 41) = 42 quotient rows and 41 remainder rows."),
]


def _diagnose_qr_tables(module, n, dim, m):
    """What is wrong with the tables of the learner's module, or None."""
    if not isinstance(module, nn.Module):
        return f"it built a {type(module).__name__}, not a torch.nn.Module."
    tables = {label: getattr(module, label, None) for label in ("quotient", "remainder")}
    for label, table in tables.items():
        if not isinstance(table, nn.Embedding):
            return f"self.{label} must be an nn.Embedding, got {type(table).__name__}."
    rows = {label: table.weight.shape[0] for label, table in tables.items()}
    wanted = {"quotient": -(-n // m), "remainder": m}
    if rows != wanted:
        if rows == {"quotient": n // m, "remainder": m}:
            return (f"the quotient table has floor({n} / {m}) = {n // m} rows: item {n - 1} needs row "
                    f"{(n - 1) // m}. Use ceil(n / m) = (n + m − 1) // m = {wanted['quotient']}.")
        if rows == {"quotient": m, "remainder": wanted["quotient"]}:
            return ("the table sizes are swapped: the quotient table (indexed by i // m) has ceil(n / m) rows, "
                    "the remainder table (indexed by i % m) has m rows.")
        return f"the tables have {rows} rows, expected {wanted}."
    widths = {label: table.weight.shape[1] for label, table in tables.items()}
    if set(widths.values()) != {dim}:
        return f"the tables have widths {widths}, expected {dim} for both."
    count = sum(p.numel() for p in module.parameters())
    if count != (wanted["quotient"] + m) * dim:
        return (f"it has {count:,} parameters, expected (ceil(n / m) + m) · dim = {(wanted['quotient'] + m) * dim:,}:"
                " the module must hold the two tables and nothing else.")
    return None


def _diagnose_qr_output(module, n, dim, m, indices):
    """What is wrong with ``module(indices)`` and its gradients, tables set to known values, or None."""
    generator = torch.Generator().manual_seed(n)
    with torch.no_grad():
        module.quotient.weight.copy_(0.5 + torch.rand(module.quotient.weight.shape, generator=generator))
        module.remainder.weight.copy_(0.5 + torch.rand(module.remainder.weight.shape, generator=generator))
    quotient = module.quotient.weight.detach().clone().requires_grad_(True)
    remainder = module.remainder.weight.detach().clone().requires_grad_(True)
    expected = _qr_reference(quotient, remainder, indices, m)
    module.zero_grad()
    try:
        result = module(indices.clone())
    except IndexError as error:
        return (f"it raised IndexError ({error}) for indices up to {int(indices.max())}: i // m ranges over "
                f"0..{(n - 1) // m} (the quotient table's rows) and i % m over 0..{m - 1} (the remainder "
                "table's rows).")
    if not isinstance(result, torch.Tensor):
        return f"it returned a {type(result).__name__}, not a torch.Tensor."
    if tuple(result.shape) != tuple(expected.shape):
        extra = " (twice the width: concatenated rows?)" if result.shape[-1] == 2 * dim else ""
        return (f"for indices of shape {list(indices.shape)} it returned shape {list(result.shape)}, expected "
                f"{list(expected.shape)}{extra}: one dim-vector per index, whatever the indices' shape.")
    if not _same(result, expected):
        q, r = quotient.detach(), remainder.detach()
        return (_which_mistake(result, QR_MISTAKES, q, r, indices, m)
                or f"with the tables set to known values, item {int(indices.flatten()[0])} got "
                   f"{_short(result.flatten(0, -2)[0])}, expected {_short(expected.flatten(0, -2)[0])}.")
    if not result.requires_grad:
        return "the output does not depend on the tables through autograd: no gradient would train them."
    result.sum().backward()
    expected.sum().backward()
    for label, reference in (("quotient", quotient), ("remainder", remainder)):
        grad = getattr(module, label).weight.grad
        if grad is None or not _same(grad, reference.grad):
            return f"the gradient that reaches the {label} table is wrong (or missing): is part of it detached?"
    return None


def check_qr_embedding(cls):
    """Check ``cls(num_embeddings, dim, buckets)``, an ``nn.Module`` with ``self.quotient``
    (``nn.Embedding(ceil(n / m), dim)``) and ``self.remainder`` (``nn.Embedding(m, dim)``) whose forward maps
    long indices ``[...]`` to ``quotient[i // m] * remainder[i % m]`` ``[..., dim]``: sizes, values (tables
    set to known values), 1-d and 2-d indices, gradients, and ``ValueError`` for buckets outside [1, n]."""
    name = _name(cls)
    for case, n, dim, m, hint in QR_CASES:
        call = f"{name}({n}, {dim}, {m})"
        module = cls(n, dim, m)
        problem = _diagnose_qr_tables(module, n, dim, m)
        for indices in (torch.arange(n), torch.tensor([[n - 1, 0, m], [m - 1, n // 2, 1]])):
            if problem:
                break
            problem = _diagnose_qr_output(module, n, dim, m, indices)
            shown = indices.tolist() if indices.numel() <= 12 else f"torch.arange({n})"
            call = f"{name}({n}, {dim}, {m})(indices={shown})"
        if problem:
            raise _case_error(case, call, problem, hint)
    for buckets in (0, 11):
        try:
            cls(10, 4, buckets)
        except ValueError:
            continue
        except ZeroDivisionError as error:
            raise _case_error(f"buckets = {buckets}", f"{name}(10, 4, {buckets})", "it raised ZeroDivisionError: "
                              "check buckets before using it, and raise ValueError.", "1 <= buckets <= num_embeddings"
                              ) from error
        raise _case_error(f"buckets = {buckets}", f"{name}(10, 4, {buckets})",
                          "it did not raise ValueError: buckets must be between 1 and num_embeddings (10 here).",
                          "With 0 buckets i % m is undefined; with more buckets than items, rows are never used.")
    _correct(name, "quotient[i // m] * remainder[i % m] (torch)",
             [case[0] for case in QR_CASES] + ["indices of shape [2, 3]", "gradients reach both tables",
                                               "buckets = 0 and buckets = 11 (> 10 items) are rejected"])
