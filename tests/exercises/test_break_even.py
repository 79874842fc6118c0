"""tinyrec.exercises.break_even: check_break_even (Exercise 2.3) passes a correct answer and names each
known mistake of the CSR byte count and of the break-even density."""

import pytest

from tinyrec import prune
from tinyrec.exercises import break_even as exercise
from tinyrec.exercises._core import same
from tinyrec.exercises.break_even import check_break_even

from . import assert_names, fails_with, stub


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
    (exercise.CSR_MISTAKES, [arguments for _, arguments, _ in exercise.CSR_CASES],
     lambda r, c, n, v, i, p: prune.csr_nbytes(r, n, v, i, p)),
    (exercise.BREAK_EVEN_MISTAKES, [arguments for _, arguments, _ in exercise.BREAK_EVEN_CASES], prune.sparse_break_even),
], ids=["csr", "break-even"])
def test_each_mistake_is_named_on_the_first_case_it_changes(mistakes, cases, reference):
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    for k, (mistake, text) in enumerate(mistakes):
        arguments = next(a for a in cases if not same(mistake(*a), reference(*a), rtol=1e-6, atol=1e-9))
        value = mistake(*arguments)
        assert not any(same(value, earlier(*arguments), rtol=1e-6, atol=1e-9) for earlier, _ in mistakes[:k]), text


@pytest.mark.parametrize("arguments", [(stub, density), (csr, stub)], ids=["csr", "density"])
def test_check_break_even_lets_the_exercise_stub_raise(arguments):
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_break_even(*arguments)
