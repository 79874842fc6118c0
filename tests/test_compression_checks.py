"""tinyrec.compression_checks: each Chapter 2 check passes a correct answer and names each known mistake."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from tinyrec import compression_checks as cc
from tinyrec import prune
from tinyrec.compression_checks import check_break_even, check_global_pruning, check_int8_rows, check_qr_embedding


def fails_with(check, *args):
    """The message of the AssertionError that ``check(*args)`` raises."""
    with pytest.raises(AssertionError) as error:
        check(*args)
    return str(error.value)


def assert_names(text, message):
    assert text.startswith("Case '") and message in text and "\nHint: " in text, text


# ----------------------------------------------------------------------------------------------------------
# check_int8_rows (Exercise 2.1)


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
    for _, weight, _ in cc.INT8_CASES[:2]:
        q = quantize(weight)
        position = (weight.double() - q[2].double()[:, None]) / q[1].double().clamp(min=1e-30)[:, None]
        fraction = position - position.floor()
        distance = torch.minimum((fraction - 0.5).abs(), torch.minimum(fraction, 1 - fraction))
        assert ((distance > 0.05) | (fraction < 1e-3) | (fraction > 1 - 1e-3)).all()


# ----------------------------------------------------------------------------------------------------------
# check_global_pruning (Exercise 2.2)


def masks(weights, sparsity, per_table=False, largest=True, signed=False, keep=None, threshold=None, check=True):
    """global_magnitude_masks with the given mistakes (the defaults make none)."""
    if check and not 0 <= sparsity <= 1:
        raise ValueError("sparsity must be in [0, 1]")
    if per_table:
        return [masks([w], sparsity)[0] for w in weights]
    flat = torch.cat([w.flatten() for w in weights])
    score = flat if signed else flat.abs()
    n_keep = flat.numel() - round(sparsity * flat.numel()) if keep is None else keep(flat.numel(), sparsity)
    if threshold:
        kept = torch.sort(score, descending=True).values[n_keep - 1]
        mask = score >= kept if threshold == ">=" else score > kept
    else:
        mask = torch.zeros(flat.numel(), dtype=torch.bool)
        mask[torch.topk(score, n_keep, largest=largest).indices] = True
    return [part.view(w.shape) for part, w in zip(mask.split([w.numel() for w in weights]), weights)]


def test_check_global_pruning_passes_correct_answers(capsys):
    check_global_pruning(masks)
    check_global_pruning(lambda ws, s: [m.flip(-1).flip(-1) for m in masks(ws, s)])
    assert "Correct! masks agrees with tinyrec.prune.magnitude_mask on the concatenated tensors" in capsys.readouterr().out


def test_check_global_pruning_accepts_any_choice_among_ties():
    def reversed_ties(weights, sparsity):  # keeps the *last* tied entries, not the first as the library does
        flipped = [w.flatten().flip(0) for w in reversed(weights)]
        kept = masks(flipped, sparsity)
        return [m.flip(0).view(w.shape) for m, w in zip(reversed(kept), weights)]
    _, weights, sparsity, ties, _ = cc.PRUNING_CASES[2]
    assert ties and not all(torch.equal(a, b) for a, b in zip(reversed_ties(weights, sparsity),
                                                                masks(weights, sparsity)))
    check_global_pruning(reversed_ties)


def test_pruning_cases_without_ties_match_torch_global_unstructured():
    for _, weights, sparsity, ties, _ in cc.PRUNING_CASES:
        holders = []
        for weight in weights:
            holder = nn.Module()
            holder.weight = nn.Parameter(weight.clone())
            holders.append(holder)
        torch_prune.global_unstructured([(h, "weight") for h in holders], pruning_method=torch_prune.L1Unstructured,
                                        amount=sparsity)
        theirs = torch.cat([h.weight_mask.bool().flatten() for h in holders])
        ours = prune.magnitude_mask(torch.cat([w.flatten() for w in weights]), sparsity)
        assert torch.equal(theirs, ours) or ties


@pytest.mark.parametrize("fn, message", [
    (lambda ws, s: masks(ws, s, per_table=True), "Each tensor was pruned on its own"),
    (lambda ws, s: masks(ws, s, largest=False), "It kept the *smallest* magnitudes"),
    (lambda ws, s: masks(ws, s, signed=True), "It ranked the signed values"),
    (lambda ws, s: masks(ws, 1 - s), "It kept a fraction `sparsity` of the entries"),
    (lambda ws, s: masks(ws, s, keep=lambda n, s: n - int(s * n)), "int() truncates sparsity · total"),
    (lambda ws, s: masks(ws, s, keep=lambda n, s: n - round(s * n) + 2), "it kept 16 of 28 entries, expected"),
    (lambda ws, s: masks(ws, s, threshold=">="), "Ties at the threshold were all kept"),
    (lambda ws, s: masks(ws, s, threshold=">"), "Ties at the threshold were all pruned"),
    (lambda ws, s: [m.float() for m in masks(ws, s)], "mask 0 is torch.float32: return torch.bool masks"),
    (lambda ws, s: [m.flatten() for m in masks(ws, s)], "mask 0 has shape [12]"),
    (lambda ws, s: torch.cat([m.flatten() for m in masks(ws, s)]), "it must return a list of 2 masks"),
    (lambda ws, s: masks([w.abs_() for w in ws], s), "it changed the weights in place"),
])
def test_check_global_pruning_names_the_mistake(fn, message):
    assert_names(fails_with(check_global_pruning, fn), message)


def test_check_global_pruning_explains_a_crash_at_sparsity_0():
    def kthvalue_at_zero(weights, sparsity):  # right, except that kthvalue(0) fails
        flat = torch.cat([w.flatten() for w in weights]).abs()
        flat.kthvalue(round(sparsity * flat.numel()))
        return masks(weights, sparsity)
    text = fails_with(check_global_pruning, kthvalue_at_zero)
    assert_names(text, "it raised RuntimeError")
    assert text.startswith("Case 'sparsity 0: nothing pruned'")


def test_check_global_pruning_wants_a_value_error():
    text = fails_with(check_global_pruning, lambda ws, s: masks(ws, min(s, 1.0), check=False))
    assert_names(text, "it did not raise ValueError")


# ----------------------------------------------------------------------------------------------------------
# check_break_even (Exercise 2.3)


def csr(rows, cols, nnz, value_bytes=4, index_bytes=4, pointer_bytes=4):
    if not 0 <= nnz <= rows * cols:
        raise ValueError("nnz must be between 0 and rows * cols")
    return nnz * (value_bytes + index_bytes) + (rows + 1) * pointer_bytes


def density(rows, cols, value_bytes=4, index_bytes=4, pointer_bytes=4):
    return (rows * cols * value_bytes - (rows + 1) * pointer_bytes) / ((value_bytes + index_bytes) * rows * cols)


def test_check_break_even_passes_a_correct_answer(capsys):
    check_break_even(csr, density)
    assert "Correct! csr and density agree with tinyrec.prune.csr_nbytes and sparse_break_even" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda r, c, n, v=4, i=4, p=4: n * (v + i), "The row pointers are missing"),
    (lambda r, c, n, v=4, i=4, p=4: n * (v + i) + r * p, "rows pointers instead of rows + 1"),
    (lambda r, c, n, v=4, i=4, p=4: n * (v + i) + (c + 1) * p, "that is CSC"),
    (lambda r, c, n, v=4, i=4, p=4: n * v + (r + 1) * p, "The column indices are missing"),
    (lambda r, c, n, v=4, i=4, p=4: n * v + r * i + (r + 1) * p, "One column index per row"),
    (lambda r, c, n, v=4, i=4, p=4: n * (v + p) + (r + 1) * i, "index_bytes and pointer_bytes swapped"),
    (lambda r, c, n, v=4, i=4, p=4: float(csr(r, c, n, v, i, p)), "return a whole number of bytes"),
    (lambda r, c, n, v=4, i=4, p=4: n * (v + i) + (r + 1) * p, "it did not raise ValueError"),
])
def test_check_break_even_names_csr_mistakes(fn, message):
    def wrapped(rows, cols, nnz, value_bytes=4, index_bytes=4, pointer_bytes=4):
        return fn(rows, cols, nnz, value_bytes, index_bytes, pointer_bytes)
    assert_names(fails_with(check_break_even, wrapped, density), message)


@pytest.mark.parametrize("fn, message", [
    (lambda *a, **k: 1 - density(*a, **k), "It returned a sparsity, 1 − density"),
    (lambda r, c, **k: r * c * density(r, c, **k), "It returned a number of non-zeros"),
    (lambda *a, **k: 100 * density(*a, **k), "It returned a percentage"),
    (lambda r, c, value_bytes=4, index_bytes=4, pointer_bytes=4: value_bytes / (value_bytes + index_bytes),
     "Its CSR size is wrong. The row pointers are missing"),
    (lambda r, c, value_bytes=4, index_bytes=4, pointer_bytes=4:
     (r * c * value_bytes - r * pointer_bytes) / ((value_bytes + index_bytes) * r * c),
     "Its CSR size is wrong. rows pointers instead of rows + 1"),
    (lambda r, c, value_bytes=4, index_bytes=4, pointer_bytes=4:
     (r * c * value_bytes - (r + 1) * pointer_bytes) / (value_bytes * r * c), "The column indices are missing"),
    (lambda r, c, value_bytes=4, index_bytes=4, pointer_bytes=4:
     (r * c * 4 - (r + 1) * pointer_bytes) / ((value_bytes + index_bytes) * r * c), "counted at 4 bytes per value"),
    (lambda *a, **k: max(0.0, density(*a, **k)), "It was clamped at 0"),
    (lambda *a, **k: str(density(*a, **k)), "return the density as a float"),
])
def test_check_break_even_names_density_mistakes(fn, message):
    assert_names(fails_with(check_break_even, csr, fn), message)


@pytest.mark.parametrize("mistakes, cases, reference", [
    (cc.CSR_MISTAKES, [arguments for _, arguments, _ in cc.CSR_CASES],
     lambda r, c, n, v, i, p: prune.csr_nbytes(r, n, v, i, p)),
    (cc.BREAK_EVEN_MISTAKES, [arguments for _, arguments, _ in cc.BREAK_EVEN_CASES], prune.sparse_break_even),
], ids=["csr", "break-even"])
def test_each_mistake_is_named_on_the_first_case_it_changes(mistakes, cases, reference):
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    for k, (mistake, text) in enumerate(mistakes):
        arguments = next(a for a in cases if not cc._same(mistake(*a), reference(*a), rtol=1e-6, atol=1e-9))
        value = mistake(*arguments)
        assert not any(cc._same(value, earlier(*arguments), rtol=1e-6, atol=1e-9) for earlier, _ in mistakes[:k]), text


# ----------------------------------------------------------------------------------------------------------
# check_qr_embedding (Exercise 2.4)


class QR(nn.Module):
    """The QR embedding with the given mistakes (the defaults make none)."""

    def __init__(self, num_embeddings, dim, buckets, rows=lambda n, m: -(-n // m), lookup=None,
                 valid=lambda n, m: 1 <= m <= n, extra=False):
        super().__init__()
        if not valid(num_embeddings, buckets):
            raise ValueError("buckets must be between 1 and num_embeddings")
        self.buckets = buckets
        self.quotient = nn.Embedding(rows(num_embeddings, buckets), dim)
        self.remainder = nn.Embedding(buckets, dim)
        self.lookup = lookup
        if extra:
            self.full = nn.Embedding(num_embeddings, dim)

    def forward(self, indices):
        q, r, m = self.quotient, self.remainder, self.buckets
        return self.lookup(q, r, indices, m) if self.lookup else q(indices // m) * r(indices % m)


def qr(**mistakes):
    def build(num_embeddings, dim, buckets):
        return QR(num_embeddings, dim, buckets, **mistakes)
    return build


def test_check_qr_embedding_passes_a_correct_answer(capsys):
    check_qr_embedding(QR)
    assert "Correct! QR agrees with quotient[i // m] * remainder[i % m]" in capsys.readouterr().out


@pytest.mark.parametrize("build, message", [
    (qr(lookup=lambda q, r, i, m: q(i % m) * r(i % m)), "Both tables were indexed by i % m"),
    (qr(lookup=lambda q, r, i, m: q(i // m) * r(i // m)), "Both tables were indexed by i // m"),
    (qr(lookup=lambda q, r, i, m: q(i % m) * r(i // m)), "The tables were swapped"),
    (qr(lookup=lambda q, r, i, m: q(i // m) + r(i % m)), "Addition is a valid operation in Shi et al.'s paper"),
    (qr(lookup=lambda q, r, i, m: r(i % m)), "that is the hashing trick"),
    (qr(lookup=lambda q, r, i, m: q(i // m)), "Only the quotient table was used"),
    (qr(lookup=lambda q, r, i, m: torch.cat([q(i // m), r(i % m)], -1)), "twice the width: concatenated rows?"),
    (qr(lookup=lambda q, r, i, m: (q(i // m) * r(i % m)).reshape(-1, q.weight.shape[1])),
     "for indices of shape [2, 3] it returned shape [6, 4]"),
    (qr(lookup=lambda q, r, i, m: q(i // m).detach() * r(i % m)), "the gradient that reaches the quotient table"),
    (qr(lookup=lambda q, r, i, m: (q(i // m) * r(i % m)).detach()), "does not depend on the tables through autograd"),
    (qr(rows=lambda n, m: n // m), "the quotient table has floor(10 / 3) = 3 rows"),
    (qr(rows=lambda n, m: n // m + 1), "the tables have {'quotient': 4, 'remainder': 3} rows"),
    (qr(extra=True), "the module must hold the two tables and nothing else"),
    (qr(valid=lambda n, m: m >= 1), "it did not raise ValueError: buckets must be between 1 and"),
    (qr(valid=lambda n, m: True), "it raised ZeroDivisionError"),
])
def test_check_qr_embedding_names_the_mistake(build, message):
    assert_names(fails_with(check_qr_embedding, build), message)


def test_check_qr_embedding_explains_an_index_error():
    text = fails_with(check_qr_embedding, qr(lookup=lambda q, r, i, m: q(i // m) * r(i % (m + 1))))
    assert_names(text, "it raised IndexError")
    assert "i % m over 0..2 (the remainder table's rows)" in text


# ----------------------------------------------------------------------------------------------------------
# Every check lets the exercise's stub raise


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your solution here")


class Stub(nn.Module):
    def __init__(self, num_embeddings, dim, buckets):
        super().__init__()
        stub()


@pytest.mark.parametrize("check, arguments", [
    (check_int8_rows, (stub, dequantize, nbytes)), (check_int8_rows, (quantize, stub, nbytes)),
    (check_int8_rows, (quantize, dequantize, stub)), (check_global_pruning, (stub,)),
    (check_break_even, (stub, density)), (check_break_even, (csr, stub)), (check_qr_embedding, (Stub,)),
])
def test_checks_let_the_exercise_stub_raise(check, arguments):
    with pytest.raises(NotImplementedError, match="Exercise"):
        check(*arguments)
