"""Parameter sharing for embedding tables: the hashing trick and quotient-remainder embeddings.

A recommender keeps one embedding row per user and per item, so its tables grow with the catalogue.
Sharing rows caps them:

* :class:`HashEmbedding` — the hashing trick: id ``i`` uses row ``i mod buckets`` of a smaller table.
  Ids that collide get *identical* embeddings, so the model cannot tell them apart.
* :class:`QREmbedding` — quotient-remainder (compositional) embeddings (Shi et al., KDD 2020): id ``i``
  is the element-wise product ``Q[i // m] * R[i mod m]`` of a row of a quotient table
  (``ceil(n / m)`` rows) and a row of a remainder table (``m`` rows). The two partitions are
  complementary: no two ids share both rows, so every id keeps its own embedding with
  ``ceil(n / m) + m`` rows instead of ``n`` (fewest at ``m ~ sqrt(n)``).

Both expose ``weight`` (the full ``[n, dim]`` table, computed) so they drop into
:class:`tinyrec.models.BPRMF` in place of ``nn.Embedding``; :func:`shared_bprmf` builds one.
"""

import math

import torch
from torch import nn

from tinyrec.config import positive_int
from tinyrec.models import BPRMF

OPERATIONS = ("mult", "add")


def _check_sizes(num_embeddings, dim, buckets):
    for label, value in (("num_embeddings", num_embeddings), ("dim", dim), ("buckets", buckets)):
        positive_int(label, value)
    if buckets > num_embeddings:
        raise ValueError(f"buckets ({buckets}) must not exceed num_embeddings ({num_embeddings}): nothing to share")


class _SharedTable(nn.Module):
    """Common part: ``num_embeddings`` ids, each mapped to ``[dim]``; ``weight`` is the full table."""

    def _check_ids(self, indices):
        if indices.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"indices must be an integer tensor, got {indices.dtype}")
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            raise ValueError(f"indices must be in [0, {self.num_embeddings}), got values in "
                             f"[{int(indices.min())}, {int(indices.max())}]")

    @property
    def weight(self):
        """The embedding of every id, ``[num_embeddings, dim]`` (differentiable)."""
        return self(torch.arange(self.num_embeddings, device=next(self.parameters()).device))


class HashEmbedding(_SharedTable):
    """The hashing trick: id ``i`` -> row ``i mod buckets`` of one ``[buckets, dim]`` table.

    forward: ids long ``[...]`` -> ``[..., dim]``. Ids ``buckets`` apart share a row (and an embedding).
    """

    def __init__(self, num_embeddings, dim, buckets):
        super().__init__()
        _check_sizes(num_embeddings, dim, buckets)
        self.num_embeddings, self.dim, self.buckets = num_embeddings, dim, buckets
        self.table = nn.Embedding(buckets, dim)
        nn.init.xavier_normal_(self.table.weight)

    def forward(self, indices):
        self._check_ids(indices)
        return self.table(indices % self.buckets)


class QREmbedding(_SharedTable):
    """Quotient-remainder embedding: id ``i`` -> ``Q[i // buckets] (op) R[i mod buckets]``.

    ``Q``: ``[ceil(num_embeddings / buckets), dim]``; ``R``: ``[buckets, dim]``; ``operation`` ``"mult"``
    (element-wise product, the default) or ``"add"``. forward: ids long ``[...]`` -> ``[..., dim]``.
    ``Q`` starts Xavier-normal like a plain table; ``R`` starts at 1 for ``"mult"`` (0 for ``"add"``), so
    training starts from the quotient rows and learns how the remainder rows set ids apart.
    """

    def __init__(self, num_embeddings, dim, buckets, operation="mult"):
        super().__init__()
        _check_sizes(num_embeddings, dim, buckets)
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}, got {operation!r}")
        self.num_embeddings, self.dim, self.buckets, self.operation = num_embeddings, dim, buckets, operation
        self.quotient = nn.Embedding(math.ceil(num_embeddings / buckets), dim)
        self.remainder = nn.Embedding(buckets, dim)
        nn.init.xavier_normal_(self.quotient.weight)
        nn.init.constant_(self.remainder.weight, 1.0 if operation == "mult" else 0.0)

    def forward(self, indices):
        self._check_ids(indices)
        q, r = self.quotient(indices // self.buckets), self.remainder(indices % self.buckets)
        return q * r if self.operation == "mult" else q + r


def qr_rows(num_embeddings, buckets):
    """Rows stored by a quotient-remainder table: ``ceil(num_embeddings / buckets) + buckets``."""
    _check_sizes(num_embeddings, 1, buckets)
    return math.ceil(num_embeddings / buckets) + buckets


def qr_buckets_for(num_embeddings, reduction):
    """The smallest ``buckets`` whose QR table stores at most ``num_embeddings / reduction`` rows.

    The smallest such ``m`` keeps the quotient table as large as the budget allows. Raises ``ValueError``
    when no ``m`` fits (the minimum is about ``2 * sqrt(num_embeddings)`` rows, at ``m ~ sqrt(n)``).
    """
    if not reduction >= 1:
        raise ValueError(f"reduction must be >= 1, got {reduction!r}")
    budget = num_embeddings / reduction
    for buckets in range(1, num_embeddings + 1):
        if qr_rows(num_embeddings, buckets) <= budget:
            return buckets
    best = min(qr_rows(num_embeddings, m) for m in range(1, num_embeddings + 1))
    raise ValueError(f"no quotient-remainder table of {num_embeddings} ids fits {budget:.1f} rows "
                     f"(reduction {reduction}); the smallest has {best} rows")


def shared_bprmf(n_users, n_items, dim, kind, reduction):
    """A :class:`~tinyrec.models.BPRMF` whose user and item tables each store ``~1/reduction`` of the rows.

    ``kind``: ``"qr"`` (:class:`QREmbedding`, buckets from :func:`qr_buckets_for`) or ``"hash"``
    (:class:`HashEmbedding` with ``floor(n / reduction)`` buckets).
    """
    def table(n):
        if kind == "qr":
            return QREmbedding(n, dim, qr_buckets_for(n, reduction))
        if kind == "hash":
            return HashEmbedding(n, dim, max(1, int(n // reduction)))
        raise ValueError(f"kind must be 'qr' or 'hash', got {kind!r}")

    return BPRMF(n_users, n_items, dim, user=table(n_users), item=table(n_items))
