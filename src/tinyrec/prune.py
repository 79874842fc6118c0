"""Magnitude pruning, and the sparse storage without which pruning saves no bytes at all.

Pruning sets the smallest-magnitude weights to zero. That alone changes neither the file nor the speed:
a dense tensor stores its zeros like any other number, and ``torch.nn.utils.prune`` even *adds* a mask
of the same size (``weight_orig`` + ``weight_mask``) until ``prune.remove`` is called. Bytes shrink only
when the zeros are not stored: :class:`CSR` keeps the non-zero values, a column index per value (int16
is enough for fewer than 32,768 columns) and one pointer per row, and :func:`sparse_break_even` says
below which density that is smaller than the dense matrix.

Structured pruning removes whole rows and columns instead (:class:`ItemSubset` keeps only the most
popular items of an item-item model; :func:`truncate_rank` keeps the best ``r`` dimensions of a matrix
factorisation), so the remaining matrix is smaller *and* dense: fast with any kernel.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils import prune as torch_prune

from tinyrec.config import positive_int
from tinyrec.models import EASE


def _n_keep(numel, sparsity):
    """How many entries to keep at ``sparsity`` (the fraction set to zero), rounded like torch does."""
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity!r}")
    return numel - round(sparsity * numel)


def magnitude_mask(weight, sparsity):
    """Bool mask of ``weight``'s shape keeping exactly the ``numel - round(sparsity * numel)`` largest |w|.

    Ties at the threshold are broken by position (the earlier entry in row-major order is kept), so the
    count is exact even when many weights share a magnitude (e.g. exact zeros).
    """
    keep = _n_keep(weight.numel(), sparsity)
    order = torch.argsort(weight.detach().abs().flatten(), descending=True, stable=True)
    mask = torch.zeros(weight.numel(), dtype=torch.bool, device=weight.device)
    mask[order[:keep]] = True
    return mask.view(weight.shape)


def row_magnitude_mask(weight, sparsity):
    """Like :func:`magnitude_mask` but per row of a matrix ``[rows, cols]``: every row keeps the same count.

    Global pruning lets rows with large weights keep more entries; per-row pruning gives every item the
    same budget (and the same bytes per row).
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must be a 2-d matrix, got shape {tuple(weight.shape)}")
    keep = _n_keep(weight.shape[1], sparsity)
    order = torch.argsort(weight.detach().abs(), dim=1, descending=True, stable=True)
    mask = torch.zeros_like(weight, dtype=torch.bool)
    mask.scatter_(1, order[:, :keep], True)
    return mask


def magnitude_prune(weight, sparsity, per_row=False):
    """A copy of ``weight`` with the smallest |w| set to zero (global by default, or per row)."""
    mask = row_magnitude_mask(weight, sparsity) if per_row else magnitude_mask(weight, sparsity)
    return weight.detach() * mask


def prune_modules(modules, sparsity, name="weight", permanent=True):
    """Global L1 (magnitude) pruning of ``name`` across ``modules`` with ``torch.nn.utils.prune``.

    ``prune.global_unstructured`` ranks the weights of all modules together. Until ``prune.remove`` the
    module holds ``{name}_orig`` and ``{name}_mask`` (twice the bytes) and recomputes the product in a
    forward pre-hook; ``permanent=True`` calls ``prune.remove`` so only the zeroed ``{name}`` is left.
    Returns the modules.
    """
    parameters = [(module, name) for module in modules]
    torch_prune.global_unstructured(parameters, pruning_method=torch_prune.L1Unstructured, amount=sparsity)
    if permanent:
        for module, parameter in parameters:
            torch_prune.remove(module, parameter)
    return modules


@dataclass(frozen=True)
class CSR:
    """Compressed sparse row storage of a matrix ``[rows, cols]`` with compact index types.

    ``values``: the non-zeros in row-major order ``[nnz]``; ``columns``: their column indices ``[nnz]``
    (int16 by default); ``row_pointers``: ``[rows + 1]``, row ``r``'s entries are
    ``values[row_pointers[r]:row_pointers[r + 1]]`` (int32 by default).
    """

    values: torch.Tensor
    columns: torch.Tensor
    row_pointers: torch.Tensor
    shape: tuple

    @classmethod
    def from_dense(cls, dense, index_dtype=torch.int16, pointer_dtype=torch.int32):
        """CSR of a dense matrix; raises ``ValueError`` if the index types cannot hold its columns or nnz."""
        if dense.dim() != 2:
            raise ValueError(f"dense must be a 2-d matrix, got shape {tuple(dense.shape)}")
        rows, cols = dense.shape
        if cols - 1 > torch.iinfo(index_dtype).max:
            raise ValueError(f"{cols} columns do not fit in {index_dtype}")
        row_index, col_index = dense.nonzero(as_tuple=True)  # row-major order
        if len(row_index) > torch.iinfo(pointer_dtype).max:
            raise ValueError(f"{len(row_index)} non-zeros do not fit in {pointer_dtype}")
        counts = torch.bincount(row_index, minlength=rows)
        pointers = torch.zeros(rows + 1, dtype=torch.int64)
        pointers[1:] = torch.cumsum(counts, 0)
        return cls(dense[row_index, col_index].clone(), col_index.to(index_dtype), pointers.to(pointer_dtype),
                   (rows, cols))

    @property
    def nnz(self):
        return self.values.numel()

    @property
    def nbytes(self):
        """Exact bytes of values, column indices and row pointers."""
        return sum(t.nbytes for t in (self.values, self.columns, self.row_pointers))

    def to_dense(self):
        """The dense matrix back, ``[rows, cols]`` (zeros where nothing is stored)."""
        rows, cols = self.shape
        counts = (self.row_pointers[1:] - self.row_pointers[:-1]).long()
        row_index = torch.repeat_interleave(torch.arange(rows), counts)
        dense = torch.zeros(self.shape, dtype=self.values.dtype)
        dense[row_index, self.columns.long()] = self.values
        return dense

    def to_torch(self):
        """A ``torch.sparse_csr_tensor`` (int64 indices, as torch's kernels want) for sparse matmul."""
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.row_pointers.long(), self.columns.long(), self.values, self.shape,
                                           check_invariants=True)


def csr_nbytes(rows, nnz, value_bytes=4, index_bytes=2, pointer_bytes=4):
    """Bytes of a CSR matrix: ``nnz * (value_bytes + index_bytes) + (rows + 1) * pointer_bytes``."""
    return nnz * (value_bytes + index_bytes) + (rows + 1) * pointer_bytes


def bitmask_nbytes(rows, cols, nnz, value_bytes=4):
    """Bytes of a bitmask format: one bit per entry (kept or not) plus the kept values,
    ``ceil(rows * cols / 8) + nnz * value_bytes``. It breaks even with the dense matrix at density
    ``1 - 1 / (8 * value_bytes)`` (31/32 for float32): cheaper than CSR when many weights are kept."""
    return -(-rows * cols // 8) + nnz * value_bytes


def sparse_break_even(rows, cols, value_bytes=4, index_bytes=2, pointer_bytes=4):
    """The density (non-zeros / entries) below which CSR takes fewer bytes than the dense matrix.

    Dense costs ``rows * cols * value_bytes``; CSR costs :func:`csr_nbytes`. Solving for equality::

        density* = (rows * cols * value_bytes - (rows + 1) * pointer_bytes) / ((value_bytes + index_bytes) * rows * cols)

    With fp32 values and int16 indices that is about 4/6 = 0.67: a third of the weights must be pruned
    before sparse storage saves a single byte; with int32 indices (the usual default) it is 0.5.
    """
    for label, value in (("rows", rows), ("cols", cols), ("value_bytes", value_bytes),
                         ("index_bytes", index_bytes), ("pointer_bytes", pointer_bytes)):
        if not value > 0:
            raise ValueError(f"{label} must be positive, got {value!r}")
    entries = rows * cols
    return (entries * value_bytes - (rows + 1) * pointer_bytes) / ((value_bytes + index_bytes) * entries)


def global_magnitude_masks(weights, sparsity):
    """Masks for several tensors pruned *together*: the ``round(sparsity * total)`` smallest |w| of all of them.

    weights: list of tensors -> list of bool masks of the same shapes. Unlike pruning each tensor at
    ``sparsity``, tables with larger weights keep more of their entries.
    """
    flat = torch.cat([w.detach().flatten() for w in weights])
    keep = magnitude_mask(flat, sparsity)
    return [part.view(w.shape) for part, w in zip(keep.split([w.numel() for w in weights]), weights)]


def prune_globally(model, sparsity, names=("user.weight", "item.weight")):
    """Zero, in place, the ``round(sparsity * total)`` smallest |w| of the parameters ``names`` taken together.

    Returns the masks, ``{name: bool tensor}`` (``True`` = kept), e.g. for :func:`keep_pruned`.
    """
    parameters = dict(model.named_parameters())
    masks = dict(zip(names, global_magnitude_masks([parameters[name] for name in names], sparsity)))
    with torch.no_grad():
        for name, mask in masks.items():
            parameters[name].mul_(mask)
    return masks


def keep_pruned(model, masks):
    """A function ``after_step(model)`` that multiplies each parameter named in ``masks`` by its mask.

    ``masks``: ``{parameter name: bool tensor of its shape}`` (``True`` = kept), e.g. from
    :func:`prune_globally`. Given to :func:`tinyrec.train.train_bpr` as ``after_step``, it puts pruned
    weights back to exactly zero after every optimizer step, so fine-tuning trains only the kept ones.
    """
    parameters = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in parameters:
            raise ValueError(f"no parameter {name!r} to mask; the model has {sorted(parameters)}")
        if mask.dtype != torch.bool or mask.shape != parameters[name].shape:
            raise ValueError(f"the mask of {name!r} must be bool {tuple(parameters[name].shape)}, "
                             f"got {mask.dtype} {tuple(mask.shape)}")
    masks = {name: mask.to(parameters[name].device) for name, mask in masks.items()}

    @torch.no_grad()
    def after_step(trained):
        named = dict(trained.named_parameters())
        for name, mask in masks.items():
            named[name].mul_(mask)

    return after_step


def truncate_rank(user, item, rank):
    """Structured pruning of a matrix factorisation: the best rank-``rank`` approximation of ``U Vᵀ``.

    user ``[n_users, d]``, item ``[n_items, d]`` -> ``(user_r [n_users, rank], item_r [n_items, rank])`` with
    ``user_r @ item_r.T`` the truncated SVD of ``user @ item.T`` (Eckart–Young: no rank-``rank`` pair of
    tables scores closer, in Frobenius norm). Each side gets the square root of the singular values. Computed
    from the thin QR decompositions of the two tables and the SVD of a ``d × d`` matrix, never ``U Vᵀ`` itself.
    A factorisation is unchanged by ``U → U A``, ``V → V A⁻ᵀ``: the SVD finds the directions that matter
    whatever scale split between the tables training happened to choose, which magnitude pruning cannot.
    """
    rank = positive_int("rank", rank)
    if user.dim() != 2 or item.dim() != 2 or user.shape[1] != item.shape[1]:
        raise ValueError(f"user and item must be [n, d] tables of the same d, got {tuple(user.shape)} and "
                         f"{tuple(item.shape)}")
    if rank > user.shape[1]:
        raise ValueError(f"rank ({rank}) must not exceed the dimension d = {user.shape[1]}")
    q_user, r_user = torch.linalg.qr(user.detach().double())
    q_item, r_item = torch.linalg.qr(item.detach().double())
    left, singular, right_t = torch.linalg.svd(r_user @ r_item.T)
    root = singular[:rank].sqrt()
    user_r = q_user @ left[:, :rank] * root
    item_r = q_item @ right_t[:rank].T * root
    return user_r.float(), item_r.float()


def popular_items(train_matrix, keep):
    """The ``keep`` items with the most training interactions: long ``[keep]``, ascending item ids.

    train_matrix: scipy ``[n_users, n_items]``. Ties in popularity go to the lower item id.
    """
    n_items = train_matrix.shape[1]
    if positive_int("keep", keep) > n_items:
        raise ValueError(f"keep must be an integer in [1, {n_items}], got {keep!r}")
    counts = torch.as_tensor(np.asarray(train_matrix.sum(axis=0)).ravel(), dtype=torch.float64)
    order = torch.sort(counts, descending=True, stable=True).indices
    return order[:keep].sort().values


class ItemSubset(torch.nn.Module):
    """Structured pruning of an item-item model: whole rows *and* columns of ``B`` removed.

    Only the ``kept`` items (long ``[k]``) are used as evidence and recommended; ``weight`` is the dense
    ``[k, k]`` block of ``B``, so scoring is a smaller dense product (faster with any kernel).
    forward(users, history ``[b, n_items]``) -> ``[b, n_items]``, ``-inf`` for every dropped item.
    """

    def __init__(self, weight, kept, n_items):
        super().__init__()
        if weight.shape != (len(kept), len(kept)):
            raise ValueError(f"weight must be [{len(kept)}, {len(kept)}] for {len(kept)} kept items, "
                             f"got {tuple(weight.shape)}")
        self.n_items = n_items
        self.register_buffer("kept", torch.as_tensor(kept, dtype=torch.long))
        self.weight = torch.nn.Parameter(weight.detach().clone().float(), requires_grad=False)

    @classmethod
    def from_ease(cls, ease, kept):
        """The block of a fitted EASE's ``B`` for the kept items (no refit)."""
        kept = torch.as_tensor(kept, dtype=torch.long)
        return cls(ease.weight.detach()[kept][:, kept], kept, ease.weight.shape[0])

    @classmethod
    def refit_ease(cls, train_matrix, kept, lam=300.0):
        """EASE solved again on the kept items' columns only: the structured analogue of fine-tuning."""
        kept = torch.as_tensor(kept, dtype=torch.long)
        small = EASE(len(kept), lam).fit(train_matrix[:, kept.numpy()])
        return cls(small.weight, kept, train_matrix.shape[1])

    def forward(self, users, history):
        scores = torch.full((history.shape[0], self.n_items), float("-inf"), device=history.device)
        scores[:, self.kept] = history[:, self.kept] @ self.weight
        return scores
