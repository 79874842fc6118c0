"""Adaptive compression: spend an embedding table's bytes where the interactions are.

A uniform table gives every row the same width and bits. An adaptive table splits the rows in two tiers
by training interactions (items by popularity, users by activity): the *head* rows keep the full width
``r`` at ``head_bits``; the *tail* rows are stored at fewer bits (mixed precision) and/or in ``k < r``
coordinates of a shared projection ``basis [k, r]`` (mixed dimension: row ≈ coordinates @ basis, the
serving-time form of Ginart et al., ISIT 2021, here obtained after training by an SVD of the tail rows
rather than trained). Every byte is counted: codes, fp16 scales and offsets, the basis, and one bit per
row saying which tier it is in.

:func:`equal_bytes_head` gives the largest head that fits the bytes of a uniform table, so an adaptive
model and a uniform one can be compared at the same total bytes.
"""

import dataclasses
import math

import numpy as np
import torch

from tinyrec import quantize
from tinyrec.config import positive_int

SCALE_BYTES = 2  # fp16 scale and fp16 offset per row


def row_bytes(width, bits):
    """Bytes of one quantized row: packed codes ``ceil(width * bits / 8)`` plus an fp16 scale and offset."""
    return math.ceil(positive_int("width", width) * bits / 8) + 2 * SCALE_BYTES


def uniform_bytes(n_rows, width, bits):
    """Bytes of a uniform table: ``n_rows`` rows of ``width`` entries at ``bits`` (:func:`row_bytes`)."""
    return positive_int("n_rows", n_rows) * row_bytes(width, bits)


def mixed_bytes(n_rows, n_head, width, head_bits, tail_width, tail_bits):
    """Bytes of a two-tier table: ``n_head`` rows of ``width`` at ``head_bits``, the other rows of
    ``tail_width`` at ``tail_bits``, a fp16 projection basis ``[tail_width, width]`` when
    ``tail_width < width``, and a membership bitmask of ``ceil(n_rows / 8)`` bytes."""
    n_rows = positive_int("n_rows", n_rows)
    if not 0 <= n_head <= n_rows:
        raise ValueError(f"n_head must be in [0, {n_rows}], got {n_head!r}")
    if not 0 < tail_width <= width:
        raise ValueError(f"tail_width must be in [1, width={width}], got {tail_width!r}")
    basis = tail_width * width * 2 if tail_width < width else 0
    return (n_head * row_bytes(width, head_bits) + (n_rows - n_head) * row_bytes(tail_width, tail_bits)
            + basis + math.ceil(n_rows / 8))


def equal_bytes_head(budget, n_rows, width, head_bits, tail_width, tail_bits):
    """The largest head (number of rows) for which :func:`mixed_bytes` stays within ``budget`` bytes.

    Raises ``ValueError`` when even an empty head (every row in the tail) exceeds the budget."""
    tail_only = mixed_bytes(n_rows, 0, width, head_bits, tail_width, tail_bits)
    if tail_only > budget:
        raise ValueError(f"a budget of {budget} bytes cannot hold even the all-tail table ({tail_only} bytes)")
    extra = row_bytes(width, head_bits) - row_bytes(tail_width, tail_bits)
    return n_rows if extra <= 0 else min(n_rows, int((budget - tail_only) // extra))


def head_rows(counts, n_head):
    """Bool ``[n_rows]``: the ``n_head`` rows with the most interactions (``counts [n_rows]``; ties go to
    the lower index)."""
    counts = torch.as_tensor(np.asarray(counts), dtype=torch.float64).flatten()
    if not 0 <= n_head <= len(counts):
        raise ValueError(f"n_head must be in [0, {len(counts)}], got {n_head!r}")
    head = torch.zeros(len(counts), dtype=torch.bool)
    head[torch.sort(counts, descending=True, stable=True).indices[:n_head]] = True
    return head


@dataclasses.dataclass(frozen=True)
class MixedTable:
    """A table ``[n_rows, width]`` in two tiers. ``membership``: packed bits, uint8 ``[ceil(n_rows / 8)]``
    (bit set = head row); ``head``, ``tail``: :class:`tinyrec.quantize.RowQuantized` of the head rows
    ``[n_head, width]`` and of the tail rows' coordinates ``[n_tail, k]``; ``basis``: fp16 ``[k, width]``,
    or ``None`` when ``k == width``."""

    membership: torch.Tensor
    head: quantize.RowQuantized
    tail: quantize.RowQuantized
    basis: torch.Tensor
    n_rows: int

    @classmethod
    def build(cls, weight, is_head, head_bits, tail_width, tail_bits):
        """Quantize ``weight [n_rows, width]``: rows where ``is_head`` (bool ``[n_rows]``) at ``head_bits``,
        the others projected on their ``tail_width`` main directions (right singular vectors of the tail
        rows) and quantized at ``tail_bits``."""
        weight = weight.detach().float().cpu()
        n_rows, width = weight.shape
        is_head = torch.as_tensor(is_head, dtype=torch.bool)
        if is_head.shape != (n_rows,) or is_head.all() or not is_head.any():
            raise ValueError(f"is_head must be bool [{n_rows}] with at least one head and one tail row, got "
                             f"{tuple(is_head.shape)} with {int(is_head.sum())} head rows")
        if not 0 < tail_width <= width:
            raise ValueError(f"tail_width must be in [1, width={width}], got {tail_width!r}")
        rows, basis = weight[~is_head], None
        if tail_width < width:
            basis = torch.linalg.svd(rows.double(), full_matrices=False)[2][:tail_width].half()
            rows = rows @ basis.float().T  # coordinates against the basis as stored
        bits = torch.as_tensor(np.packbits(is_head.numpy(), bitorder="little"))
        head = quantize.quantize_rows(weight[is_head], head_bits, scale_dtype=torch.float16)
        return cls(bits, head, quantize.quantize_rows(rows, tail_bits, scale_dtype=torch.float16), basis, n_rows)

    def is_head(self):
        """Bool ``[n_rows]``: which rows are in the head tier (unpacked from :attr:`membership`)."""
        return torch.as_tensor(np.unpackbits(self.membership.numpy(), count=self.n_rows, bitorder="little")).bool()

    def dequantize(self):
        """The float32 table ``[n_rows, width]``: head rows dequantized, tail rows ``coordinates @ basis``."""
        is_head = self.is_head()
        out = torch.empty(self.n_rows, self.head.shape[1])
        out[is_head] = self.head.dequantize()
        tail = self.tail.dequantize()
        out[~is_head] = tail if self.basis is None else tail @ self.basis.float()
        return out

    @property
    def nbytes(self):
        """Bytes of every stored tensor: both tiers' codes, scales and offsets, the basis, the bitmask."""
        basis = 0 if self.basis is None else self.basis.nbytes
        return self.head.nbytes + self.tail.nbytes + basis + self.membership.nbytes

    def artefact(self):
        return {"membership": self.membership, "head": dataclasses.asdict(self.head),
                "tail": dataclasses.asdict(self.tail), "basis": self.basis, "n_rows": self.n_rows}


class MixedMF(torch.nn.Module):
    """Matrix factorisation served from two :class:`MixedTable` (dequantized at every call):
    ``scores [b, n_items] = user rows [b, r] @ item table [n_items, r]ᵀ``."""

    def __init__(self, user, item):
        super().__init__()
        self.user, self.item = user, item

    def artefact(self):
        return {"user": self.user.artefact(), "item": self.item.artefact()}

    @property
    def nbytes(self):
        return self.user.nbytes + self.item.nbytes

    def forward(self, users, history=None):
        return self.user.dequantize()[users] @ self.item.dequantize().T


@dataclasses.dataclass(frozen=True)
class Scheme:
    """A two-tier scheme for both tables: head rows at ``head_bits``, tail rows in ``tail_width``
    coordinates at ``tail_bits``."""

    head_bits: int
    tail_width: int
    tail_bits: int

    def name(self, width):
        tail = f"int{self.tail_bits}" + (f" in {self.tail_width} dims" if self.tail_width < width else "")
        return f"head int{self.head_bits}, tail {tail}"


def mixed_mf(user, item, counts, scheme, budgets):
    """A :class:`MixedMF` of float tables user ``[n_users, r]``, item ``[n_items, r]`` that fits the bytes
    ``budgets = (user bytes, item bytes)``: each table's head is its most active rows (``counts = (user
    counts, item counts)``, training interactions), as many as :func:`equal_bytes_head` allows."""
    tables = []
    for weight, count, budget in zip((user, item), counts, budgets):
        n_rows, width = weight.shape
        n_head = equal_bytes_head(budget, n_rows, width, scheme.head_bits, scheme.tail_width, scheme.tail_bits)
        if not 0 < n_head < n_rows:
            raise ValueError(f"{scheme} gives a head of {n_head} of {n_rows} rows within {budget} bytes: "
                             "not a two-tier table")
        tables.append(MixedTable.build(weight, head_rows(count, n_head), scheme.head_bits, scheme.tail_width,
                                       scheme.tail_bits))
    return MixedMF(*tables)


def schemes(width, bits=(8, 4, 2), per_row_budget=None):
    """Every two-tier :class:`Scheme` for tables of ``width``: head and tail bits from ``bits``, tail width
    ``width`` (mixed precision) or ``width / 2, / 4, / 8`` (mixed dimension). With ``per_row_budget``
    (bytes), only the schemes that really move bytes to the head: a head row costs more than the budget's
    average row and a tail row less."""
    found = []
    for head_bits in bits:
        for tail_width in sorted({width, *(width // f for f in (2, 4, 8) if width // f >= 1)}, reverse=True):
            for tail_bits in bits:
                head, tail = row_bytes(width, head_bits), row_bytes(tail_width, tail_bits)
                if head > tail and (per_row_budget is None or head > per_row_budget > tail):
                    found.append(Scheme(head_bits, tail_width, tail_bits))
    return found


def candidates(tables, counts, budgets, bits=(8, 4, 2)):
    """Every adaptive model of the grid within ``budgets = (user bytes, item bytes)``.

    ``tables``: ``{label: (user [n_users, r], item [n_items, r])}`` float tables (e.g. KD students, pruned
    or not); ``counts``: (user, item) training interactions. Each table pair gets every scheme of
    :func:`schemes` that moves bytes to the head at both tables' budgets. Returns
    ``{(label, scheme name): MixedMF}``.
    """
    out = {}
    for label, (user, item) in tables.items():
        width = user.shape[1]
        per_row = min(budget / n for budget, n in zip(budgets, (user.shape[0], item.shape[0])))
        for scheme in schemes(width, bits, per_row):
            try:
                out[label, scheme.name(width)] = mixed_mf(user, item, counts, scheme, budgets)
            except ValueError:  # the basis and bitmask leave no room for a head row
                continue
    return out
