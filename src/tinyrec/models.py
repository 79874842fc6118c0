"""The recommenders of the book: a popularity baseline, BPR matrix factorisation, and the EASE teacher.

Every model is a ``torch.nn.Module`` with one call signature, so evaluation and distillation treat
them alike::

    scores = model(users, history)   # users: long [b]; history: float [b, n_items] (training items)
                                     # scores: float [b, n_items], higher = recommend first
"""

from copy import deepcopy

import torch
from torch import nn

from tinyrec.config import positive_int


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
        dim = positive_int("dim", dim)
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

    def fit(self, train_matrix, support=None):
        """Solve for ``B`` from a binary ``[n_users, n_items]`` scipy matrix (in float64). Returns ``self``.

        ``support`` (bool ``[n_items, n_items]``, optional) allows only those weights to be non-zero and
        solves the same objective on them: for each target item ``j`` with allowed source items ``S``
        (``support[:, j]``, diagonal excluded), ``B[S, j] = (X_S^T X_S + lam I)^-1 X_S^T X_j``. That is
        the closed-form analogue of fine-tuning after pruning: the best weights for a sparsity pattern,
        one small solve per item (fast when few weights are kept).
        """
        x = torch.as_tensor(train_matrix.toarray(), dtype=torch.float64)
        gram = x.T @ x + self.lam * torch.eye(x.shape[1], dtype=torch.float64)
        if support is None:
            p = torch.linalg.inv(gram)
            b = -p / torch.diagonal(p)
            b.fill_diagonal_(0.0)
        else:
            if support.dtype != torch.bool or tuple(support.shape) != tuple(gram.shape):
                raise ValueError(f"support must be a bool tensor of shape {tuple(gram.shape)}, "
                                 f"got {support.dtype} {tuple(support.shape)}")
            support = support.clone()
            support.fill_diagonal_(False)
            b = torch.zeros(gram.shape, dtype=torch.float64)
            for j in range(gram.shape[1]):
                kept = support[:, j].nonzero().flatten()
                if len(kept):
                    b[kept, j] = torch.linalg.solve(gram[kept][:, kept], gram[kept, j])
        self.weight.data = b.float()
        return self

    def forward(self, users, history):
        return history @ self.weight


def count_parameters(model):
    """Number of scalars in a model's parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def with_weights(model, weights):
    """A copy of ``model`` (in eval mode) whose parameters named in ``weights`` hold new values.

    ``weights``: ``{parameter name: tensor of that parameter's shape}``, e.g. ``{"weight": pruned_b}`` for
    EASE or ``{"user.weight": u, "item.weight": q}`` for BPR-MF; values are stored as float32. The
    original model is left unchanged. Use it to evaluate a pruned or quantized copy of a trained model.
    """
    copy = deepcopy(model)
    parameters = dict(copy.named_parameters())
    for name, value in weights.items():
        if name not in parameters:
            raise ValueError(f"the model has no parameter {name!r}; it has {sorted(parameters)}")
        if tuple(value.shape) != tuple(parameters[name].shape):
            raise ValueError(f"{name} must have shape {tuple(parameters[name].shape)}, got {tuple(value.shape)}")
        parameters[name].data = value.detach().to(parameters[name].device, torch.float32).clone()
    return copy.eval()
