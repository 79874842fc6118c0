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
