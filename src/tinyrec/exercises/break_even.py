"""Exercise 2.3 (``02_exercise_break_even``): CSR bytes and the density below which CSR is smaller.

:func:`check_break_even` compares the learner's two functions with :func:`tinyrec.prune.csr_nbytes` and
:func:`tinyrec.prune.sparse_break_even`, and recognises each miscount of the CSR arrays (also inside the
break-even density) and a sparsity, count or percentage returned instead of a density.
"""

import numbers

from tinyrec import prune
from tinyrec.exercises._core import case_error, correct, fn_name, not_an_int, same, which_mistake

__all__ = ["check_break_even"]


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
    name = fn_name(csr_bytes)
    for case, (rows, cols, nnz, v, i, p), hint in CSR_CASES:
        expected = prune.csr_nbytes(rows, nnz, v, i, p)
        result = csr_bytes(rows, cols, nnz, value_bytes=v, index_bytes=i, pointer_bytes=p)
        problem = not_an_int(result)
        if not problem and result != expected:
            problem = (which_mistake(result, CSR_MISTAKES, rows, cols, nnz, v, i, p, rtol=0, atol=0)
                       or f"expected {expected:,} bytes, got {result:,}.")
        if problem:
            call = f"{name}({rows}, {cols}, {nnz}, value_bytes={v}, index_bytes={i}, pointer_bytes={p})"
            raise case_error(case, call, problem, hint)
    for nnz in (7, -1):
        try:
            csr_bytes(2, 3, nnz)
        except ValueError:
            continue
        raise case_error(f"nnz = {nnz} in a 2 × 3 matrix", f"{name}(2, 3, {nnz})",
                         "it did not raise ValueError: a 2 × 3 matrix has between 0 and 6 non-zeros.",
                         "if not 0 <= nnz <= rows * cols: raise ValueError(...)")
    for case, (rows, cols, v, i, p), hint in BREAK_EVEN_CASES:
        expected = prune.sparse_break_even(rows, cols, v, i, p)
        result = break_even_density(rows, cols, value_bytes=v, index_bytes=i, pointer_bytes=p)
        problem = None
        if isinstance(result, bool) or not isinstance(result, numbers.Real):
            problem = f"it returned {result!r} ({type(result).__name__}): return the density as a float."
        elif not same(result, expected, rtol=1e-6, atol=1e-9):
            problem = (which_mistake(result, BREAK_EVEN_MISTAKES, rows, cols, v, i, p, rtol=1e-6, atol=1e-9)
                       or f"expected {expected:.6f}, got {result:.6f}.")
        if problem:
            call = (f"{fn_name(break_even_density)}({rows}, {cols}, value_bytes={v}, index_bytes={i}, "
                    f"pointer_bytes={p})")
            raise case_error(case, call, problem, hint)
    correct(f"{name} and {fn_name(break_even_density)}", "tinyrec.prune.csr_nbytes and sparse_break_even",
            [case[0] for case in CSR_CASES] + ["nnz outside [0, rows · cols] is rejected"]
            + [case[0] for case in BREAK_EVEN_CASES])
