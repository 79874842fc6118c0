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

* :class:`FrequencyEmbedding` — frequency-aware sharing: the most frequent ids keep their own rows, only
  the long tail shares.

All expose ``weight`` (the full ``[n, dim]`` table, computed) so they drop into
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


class FrequencyEmbedding(_SharedTable):
    """Frequency-aware sharing: the ``own`` most frequent ids keep a row each; every other id shares one of
    ``buckets`` rows, chosen by ``id mod buckets`` (cf. Zhang et al., RecSys 2020; DLRM's ``--qr-threshold``).

    ``counts``: training interactions per id, ``[num_embeddings]`` (ties go to the lower id). A recommender's
    ids are long-tailed: the frequent ones carry most interactions and keep their own embedding, the rare
    ones, which could not learn much of one anyway, share. Stores ``own + buckets`` rows of ``dim``.
    forward: ids long ``[...]`` -> ``[..., dim]``.
    """

    def __init__(self, counts, dim, own, buckets):
        super().__init__()
        counts = torch.as_tensor(counts, dtype=torch.float64).flatten()
        num_embeddings = len(counts)
        own = positive_int("own", own, minimum=0)
        _check_sizes(num_embeddings, dim, max(buckets, 1))
        if own + buckets > num_embeddings or (own < num_embeddings and buckets < 1):
            raise ValueError(f"own ({own}) + buckets ({buckets}) must not exceed num_embeddings "
                             f"({num_embeddings}), and the ids that do not own a row need buckets >= 1")
        self.num_embeddings, self.dim, self.own, self.buckets = num_embeddings, dim, own, buckets
        order = torch.sort(counts, descending=True, stable=True).indices
        row_of = own + torch.arange(num_embeddings) % max(buckets, 1)
        row_of[order[:own]] = torch.arange(own)
        self.register_buffer("row_of", row_of)
        self.table = nn.Embedding(own + buckets, dim)
        nn.init.xavier_normal_(self.table.weight)

    def forward(self, indices):
        self._check_ids(indices)
        return self.table(self.row_of[indices])


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


KINDS = ("qr", "hash", "frequency")


def shared_bprmf(n_users, n_items, dim, kind, reduction, tables=("user", "item"), counts=None, own=0.75):
    """A :class:`~tinyrec.models.BPRMF` whose ``tables`` (``"user"``, ``"item"`` or both) each store
    ``~1/reduction`` of their rows; the other table, if any, stays a plain embedding.

    ``kind``: ``"qr"`` (:class:`QREmbedding`, buckets from :func:`qr_buckets_for`), ``"hash"``
    (:class:`HashEmbedding` with ``floor(n / reduction)`` buckets), or ``"frequency"``
    (:class:`FrequencyEmbedding`: of its ``floor(n / reduction)`` rows, a share ``own`` goes to the most
    frequent ids, the rest is shared by all other ids; needs ``counts = {"user": [n_users], "item": [n_items]}``,
    the training interactions per id).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not tables or set(tables) - {"user", "item"}:
        raise ValueError(f"tables must name 'user' and/or 'item', got {tables!r}")
    if not 0.0 <= own <= 1.0:
        raise ValueError(f"own must be a fraction in [0, 1], got {own!r}")

    def table(name, n):
        if kind == "qr":
            return QREmbedding(n, dim, qr_buckets_for(n, reduction))
        rows = max(1, int(n // reduction))
        if kind == "hash":
            return HashEmbedding(n, dim, rows)
        if counts is None or name not in counts or len(counts[name]) != n:
            raise ValueError(f"kind 'frequency' needs counts[{name!r}] with {n} training counts, got {counts!r:.80}")
        owned = round(own * rows)
        return FrequencyEmbedding(counts[name], dim, owned, rows - owned)

    shared = {name: table(name, n) for name, n in (("user", n_users), ("item", n_items)) if name in tables}
    return BPRMF(n_users, n_items, dim, **shared)
