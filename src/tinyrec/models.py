"""The recommenders of the book: a popularity baseline, BPR matrix factorisation, and the EASE teacher.

Every model is a ``torch.nn.Module`` with one call signature, so evaluation and distillation treat
them alike::

    scores = model(users, history)   # users: long [b]; history: float [b, n_items] (training items)
                                     # scores: float [b, n_items], higher = recommend first
"""

import torch
from torch import nn


class Popularity(nn.Module):
    """Scores every item by how many training interactions it has; the same list for every user."""

    def __init__(self, n_items):
        super().__init__()
        self.register_buffer("counts", torch.zeros(n_items))

    def fit(self, train_matrix):
        """Count interactions per item in a ``[n_users, n_items]`` scipy matrix. Returns ``self``."""
        self.counts = torch.as_tensor(train_matrix.sum(axis=0)).float().reshape(-1)
        return self

    def forward(self, users, history=None):
        return self.counts.expand(len(users), -1)


class BPRMF(nn.Module):
    """Matrix factorisation: score(u, i) = <p_u, q_i>, trained with the BPR loss (Rendle et al., 2009).

    Parameters: ``(n_users + n_items) * dim``. Embeddings start Xavier-normal, as in RecBole.
    ``user`` and ``item`` replace the plain tables with any module that maps ids long ``[b]`` to
    ``[b, dim]`` and has a ``weight`` ``[n, dim]`` (e.g. the shared tables of :mod:`tinyrec.share`).
    """

    def __init__(self, n_users, n_items, dim=64, user=None, item=None):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.user = user if user is not None else _xavier_embedding(n_users, dim)
        self.item = item if item is not None else _xavier_embedding(n_items, dim)
        for name, table, n in (("user", self.user, n_users), ("item", self.item, n_items)):
            if tuple(table.weight.shape) != (n, dim):
                raise ValueError(f"the {name} table must give [{n}, {dim}] embeddings, got {tuple(table.weight.shape)}")

    def forward(self, users, history=None):
        return self.user(users) @ self.item.weight.T

    def pair_scores(self, users, items):
        """Scores of (user, item) pairs: users, items long ``[b]`` -> float ``[b]``."""
        return (self.user(users) * self.item(items)).sum(-1)


def _xavier_embedding(n, dim):
    table = nn.Embedding(n, dim)
    nn.init.xavier_normal_(table.weight)
    return table


def bpr_loss(positive_scores, negative_scores):
    """BPR loss: mean of ``-log sigmoid(s_pos - s_neg)`` over pairs (shapes broadcast)."""
    return -nn.functional.logsigmoid(positive_scores - negative_scores).mean()


class EASE(nn.Module):
    """EASE (Steck, WWW 2019): a closed-form item-item linear model, ``scores = history @ B``.

    ``B`` is ``[n_items, n_items]`` with a zero diagonal, the ridge-regression solution of
    ``min ||X - X B||^2 + lam ||B||^2`` s.t. ``diag(B) = 0``:  ``P = (X^T X + lam I)^-1``,
    ``B = -P / diag(P)`` column-wise. For MovieLens-100k that is 1,682^2 ~ 2.8M parameters.
    """

    def __init__(self, n_items, lam=300.0):
        super().__init__()
        if lam <= 0:
            raise ValueError(f"lam must be positive, got {lam!r}")
        self.lam = float(lam)
        self.weight = nn.Parameter(torch.zeros(n_items, n_items), requires_grad=False)

    def fit(self, train_matrix):
        """Solve for ``B`` from a binary ``[n_users, n_items]`` scipy matrix (in float64). Returns ``self``."""
        x = torch.as_tensor(train_matrix.toarray(), dtype=torch.float64)
        gram = x.T @ x + self.lam * torch.eye(x.shape[1], dtype=torch.float64)
        p = torch.linalg.inv(gram)
        b = -p / torch.diagonal(p)
        b.fill_diagonal_(0.0)
        self.weight.data = b.float()
        return self

    def forward(self, users, history):
        return history @ self.weight


def count_parameters(model):
    """Number of scalars in a model's parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())
