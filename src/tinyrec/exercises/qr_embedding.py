"""Exercise 2.4 (``02_exercise_qr_embedding``): the quotient-remainder embedding (Shi et al., KDD 2020).

:func:`check_qr_embedding` checks the learner's module against the three lines of torch of
:func:`_qr_reference` (not :mod:`tinyrec.share`, so that the check does not depend on it): the sizes of
its tables, its values with the tables set to known values, 1-d and 2-d indices, the gradients, and
``ValueError`` for a number of buckets outside ``[1, n]``.
"""

import torch
from torch import nn

from tinyrec.exercises._core import case_error, correct, fn_name, same, short, which_mistake

__all__ = ["check_qr_embedding"]


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
    if not same(result, expected):
        q, r = quotient.detach(), remainder.detach()
        return (which_mistake(result, QR_MISTAKES, q, r, indices, m)
                or f"with the tables set to known values, item {int(indices.flatten()[0])} got "
                   f"{short(result.flatten(0, -2)[0])}, expected {short(expected.flatten(0, -2)[0])}.")
    if not result.requires_grad:
        return "the output does not depend on the tables through autograd: no gradient would train them."
    result.sum().backward()
    expected.sum().backward()
    for label, reference in (("quotient", quotient), ("remainder", remainder)):
        grad = getattr(module, label).weight.grad
        if grad is None or not same(grad, reference.grad):
            return f"the gradient that reaches the {label} table is wrong (or missing): is part of it detached?"
    return None


def check_qr_embedding(cls):
    """Check ``cls(num_embeddings, dim, buckets)``, an ``nn.Module`` with ``self.quotient``
    (``nn.Embedding(ceil(n / m), dim)``) and ``self.remainder`` (``nn.Embedding(m, dim)``) whose forward maps
    long indices ``[...]`` to ``quotient[i // m] * remainder[i % m]`` ``[..., dim]``: sizes, values (tables
    set to known values), 1-d and 2-d indices, gradients, and ``ValueError`` for buckets outside [1, n]."""
    name = fn_name(cls)
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
            raise case_error(case, call, problem, hint)
    for buckets in (0, 11):
        try:
            cls(10, 4, buckets)
        except ValueError:
            continue
        except ZeroDivisionError as error:
            raise case_error(f"buckets = {buckets}", f"{name}(10, 4, {buckets})", "it raised ZeroDivisionError: "
                             "check buckets before using it, and raise ValueError.", "1 <= buckets <= num_embeddings"
                             ) from error
        raise case_error(f"buckets = {buckets}", f"{name}(10, 4, {buckets})",
                         "it did not raise ValueError: buckets must be between 1 and num_embeddings (10 here).",
                         "With 0 buckets i % m is undefined; with more buckets than items, rows are never used.")
    correct(name, "quotient[i // m] * remainder[i % m] (torch)",
            [case[0] for case in QR_CASES] + ["indices of shape [2, 3]", "gradients reach both tables",
                                              "buckets = 0 and buckets = 11 (> 10 items) are rejected"])
