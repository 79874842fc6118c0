"""The evaluation protocol: score every item for every user, exclude what the user has seen, rank.

Validation excludes training items; test excludes training and validation items. Ranking is over the
full catalogue (never sampled negatives: Krichene & Rendle, KDD 2020).
"""

import torch

from tinyrec import metrics


def seen_items(split, part, device=None):
    """Bool ``[n_users, n_items]`` of items that must not be recommended when evaluating on ``part``."""
    if part == "valid":
        return split.mask("train", device)
    if part == "test":
        return split.mask("train", device) | split.mask("valid", device)
    raise ValueError(f"part must be 'valid' or 'test', got {part!r}")


@torch.no_grad()
def score_all(model, split):
    """Scores of every item for every user: float ``[n_users, n_items]`` (model in eval mode)."""
    model.eval()
    device = next((t.device for t in list(model.parameters()) + list(model.buffers())), torch.device("cpu"))
    users = torch.arange(split.n_users, device=device)
    history = split.mask("train", device).float()
    return model(users, history)


def per_user(model, split, part="test", k=10):
    """Per-user metrics on ``part``: dict of float tensors ``[n_users]`` for ndcg, recall, hit, mrr @k."""
    scores = score_all(model, split)
    relevant = split.mask(part, scores.device)
    return metrics.all_at_k(scores, relevant, k, exclude=seen_items(split, part, scores.device))


def evaluate(model, split, part="test", k=10):
    """Mean metrics over users on ``part``: ``{"ndcg@k", "recall@k", "hit@k", "mrr@k"}`` as floats."""
    return {name: values.mean().item() for name, values in per_user(model, split, part, k).items()}


def ndcg(model, split, part="test", k=10):
    """Mean NDCG@k over users on ``part``, as a float: the number the book's tables report."""
    return evaluate(model, split, part, k)[f"ndcg@{k}"]


def long_tail(split, head=0.2):
    """Bool ``[n_items]``: the items outside the ``head`` share of the catalogue with the most training
    interactions (ties go to the lower item index) — the long tail a compressed model may drop first."""
    if not 0.0 < head < 1.0:
        raise ValueError(f"head must be a fraction in (0, 1), got {head!r}")
    counts = torch.as_tensor(split.matrix("train").sum(axis=0)).flatten().double()
    order = torch.sort(counts, descending=True, stable=True).indices
    tail = torch.ones(split.n_items, dtype=torch.bool)
    tail[order[:round(head * split.n_items)]] = False
    return tail


def recall_on(model, split, items, part="test", k=10):
    """Recall@k counting only the relevant items in ``items`` (bool ``[n_items]``, e.g. :func:`long_tail`),
    averaged over the users who have at least one of them in ``part``. The ranking is the usual one (all
    items, seen ones excluded). Returns a float."""
    scores = score_all(model, split)
    relevant = split.mask(part, scores.device) & items.to(scores.device)[None, :]
    users = relevant.any(dim=1)
    if not users.any():
        raise ValueError(f"no user has a relevant item among the {int(items.sum())} items given in {part!r}")
    exclude = seen_items(split, part, scores.device)
    return metrics.recall_at_k(scores[users], relevant[users], k, exclude=exclude[users]).mean().item()
