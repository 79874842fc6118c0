"""Top-K ranking metrics over the full catalogue, one value per user, and bootstrap intervals.

Conventions shared by every metric (DESIGN §3):

* ``scores`` is a floating tensor ``[n_users, n_items]``; ``relevant`` and ``exclude`` are bool masks of the
  same shape. Relevance is binary. Ranking is over all items (never sampled negatives).
* Excluded items can never be ranked: they are placed after every non-excluded item (as if scored
  below ``-inf``). An item may not be both relevant and excluded (``ValueError``): in our protocol the
  held-out items are never training items, so an overlap means a bug upstream.
* Ties are broken deterministically by item index: among equal scores the lower item index ranks first
  (a stable descending sort, on CPU and GPU alike).
* ``k`` larger than ``n_items`` is clamped to ``n_items`` (the whole catalogue is the top-K list).
* Every row needs at least one relevant item; results are float tensors ``[n_users]`` on the device of
  ``scores`` (float32, or float64 for float64 scores).
"""

import numbers

import numpy as np
import torch

from tinyrec.config import positive_int

__all__ = [
    "top_k_hits", "recall_at_k", "ndcg_at_k", "hit_at_k", "mrr_at_k", "all_at_k", "mean_at_k", "coverage_at_k",
    "sampled_ndcg_at_k", "bootstrap_ci", "paired_bootstrap_ci", "paired_over_seeds",
]


def _check_k(k):
    return positive_int("k", k)


def _check_mask(name, mask, scores):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a bool tensor, got {got}")
    if mask.shape != scores.shape:
        raise ValueError(f"{name} must have the shape of scores {tuple(scores.shape)}, "
                         f"got {tuple(mask.shape)}")
    return mask.to(scores.device)


def _validate(scores, relevant, k, exclude):
    """Check the inputs; return ``(k clamped to n_items, relevant, exclude)`` on ``scores.device``."""
    k = _check_k(k)
    if not isinstance(scores, torch.Tensor) or not scores.is_floating_point() or scores.dim() != 2:
        got = (f"{scores.dtype} tensor of shape {tuple(scores.shape)}" if isinstance(scores, torch.Tensor)
               else type(scores).__name__)
        raise ValueError(f"scores must be a 2-D floating tensor [n_users, n_items], got {got}")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"scores must have at least one user and one item, got shape {tuple(scores.shape)}")
    n_nan = int(torch.isnan(scores).sum())
    if n_nan:
        raise ValueError(f"scores contain {n_nan} NaN value(s); expected no NaN")
    relevant = _check_mask("relevant", relevant, scores)
    empty = (~relevant.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"every user needs at least one relevant item; {len(empty)} row(s) have none, "
                         f"e.g. row index {empty[:5]}")
    if exclude is None:
        exclude = torch.zeros_like(relevant)
    else:
        exclude = _check_mask("exclude", exclude, scores)
        n_overlap = int((relevant & exclude).sum())
        if n_overlap:
            raise ValueError(f"relevant and exclude overlap at {n_overlap} position(s); "
                             "an excluded item cannot be relevant")
    return min(k, scores.shape[1]), relevant, exclude


def _ranked_hits(scores, relevant, k, exclude):
    # Order by (not excluded, score desc, item index asc) without sorting whole rows: torch.topk finds
    # the k-th best value; the items above it plus, in index order, just enough items tied with it
    # make exactly k per row; only those k are then sorted (stable, so ties stay in index order).
    floor = torch.finfo(scores.dtype).min
    key = scores.clamp(min=floor).masked_fill(exclude, float("-inf"))  # a real -inf still beats excluded
    kth = key.topk(k, dim=1).values[:, -1:]
    above = key > kth
    tied = key == kth
    chosen = above | tied
    crowded = (chosen.sum(dim=1) > k).nonzero().flatten()  # rows with more ties than places left
    if len(crowded):
        room = k - above[crowded].sum(dim=1, keepdim=True)
        chosen[crowded] = above[crowded] | (tied[crowded] & (tied[crowded].cumsum(dim=1) <= room))
    items = chosen.nonzero()[:, 1].reshape(-1, k)  # row-major: ascending item index within each row
    order = items.gather(1, key.gather(1, items).sort(dim=1, descending=True, stable=True).indices)
    return relevant.gather(1, order)


def top_k_hits(scores, relevant, k, exclude=None):
    """Relevance of each of the top-``k`` ranked items: bool ``[n_users, min(k, n_items)]``.

    ``out[u, r]`` is True when the item at rank ``r + 1`` for user ``u`` is relevant. Validates the inputs
    (see the module docstring); every metric below is a short formula over this matrix.
    """
    k, relevant, exclude = _validate(scores, relevant, k, exclude)
    return _ranked_hits(scores, relevant, k, exclude)


def _dtype(scores):
    return torch.promote_types(scores.dtype, torch.float32)


def _discounts(k, scores):
    """``1 / log2(rank + 1)`` for ranks 1..k: float ``[k]``."""
    ranks = torch.arange(1, k + 1, device=scores.device, dtype=_dtype(scores))
    return 1.0 / torch.log2(ranks + 1)


def _recall(hits, n_rel, scores):
    return hits.sum(dim=1).to(_dtype(scores)) / n_rel


def _ndcg(hits, n_rel, scores):
    disc = _discounts(hits.shape[1], scores)
    dcg = (hits * disc).sum(dim=1)
    ideal = torch.cumsum(disc, dim=0)[n_rel.clamp(max=hits.shape[1]) - 1]  # IDCG over min(K, |rel|)
    return dcg / ideal


def _hit(hits, scores):
    return hits.any(dim=1).to(_dtype(scores))


def _mrr(hits, scores):
    ranks = torch.arange(1, hits.shape[1] + 1, device=scores.device, dtype=_dtype(scores))
    return (hits / ranks).amax(dim=1)  # reciprocal rank of the first hit, 0 when none


def _n_relevant(relevant, scores):
    return relevant.to(scores.device).sum(dim=1)


def recall_at_k(scores, relevant, k, exclude=None):
    """Recall@K: relevant items in the top K / all relevant items of the user. Float ``[n_users]``.

    The denominator is ``|relevant|`` (RecBole's definition), so Recall@K < 1 whenever ``|relevant| > K``.
    """
    return _recall(top_k_hits(scores, relevant, k, exclude), _n_relevant(relevant, scores), scores)


def ndcg_at_k(scores, relevant, k, exclude=None):
    """NDCG@K with binary gains: DCG = sum of ``1 / log2(rank + 1)`` over relevant items in the top K,
    divided by the ideal DCG over ``min(K, |relevant|)`` positions. Float ``[n_users]``."""
    return _ndcg(top_k_hits(scores, relevant, k, exclude), _n_relevant(relevant, scores), scores)


def hit_at_k(scores, relevant, k, exclude=None):
    """Hit@K: 1 if any relevant item is in the top K, else 0. Float ``[n_users]``."""
    return _hit(top_k_hits(scores, relevant, k, exclude), scores)


def mrr_at_k(scores, relevant, k, exclude=None):
    """MRR@K: 1 / rank of the first relevant item in the top K, 0 if there is none. Float ``[n_users]``."""
    return _mrr(top_k_hits(scores, relevant, k, exclude), scores)


def all_at_k(scores, relevant, k=10, exclude=None):
    """All four metrics per user from one ranking: ``{"ndcg@k", "recall@k", "hit@k", "mrr@k"}``,
    each a float tensor ``[n_users]``. The keys use the ``k`` given (not the clamped one)."""
    hits = top_k_hits(scores, relevant, k, exclude)
    n_rel = _n_relevant(relevant, scores)
    return {
        f"ndcg@{k}": _ndcg(hits, n_rel, scores),
        f"recall@{k}": _recall(hits, n_rel, scores),
        f"hit@{k}": _hit(hits, scores),
        f"mrr@{k}": _mrr(hits, scores),
    }


def coverage_at_k(scores, k=10, exclude=None):
    """Catalogue coverage: the share of items that appear in at least one user's top ``k``. Float in ``(0, 1]``.

    ``scores`` ``[n_users, n_items]``, ``exclude`` optional bool of the same shape. A model that sends
    everyone the same blockbusters covers ``k / n_items``; compression can silence whole parts of the
    catalogue that NDCG barely notices.
    """
    k = _check_k(k)
    dummy = torch.ones_like(scores, dtype=torch.bool)
    if exclude is not None:
        dummy = dummy & ~_check_mask("exclude", exclude, scores)
    k, relevant, exclude = _validate(scores, dummy, k, exclude)
    key = scores.clamp(min=torch.finfo(scores.dtype).min).masked_fill(exclude, float("-inf"))
    top = key.sort(dim=1, descending=True, stable=True).indices[:, :k]
    shown = torch.zeros(scores.shape[1], dtype=torch.bool, device=scores.device)
    shown[top.flatten()] = True
    return shown.float().mean().item()


def mean_at_k(scores, relevant, k=10, exclude=None):
    """Mean over users of :func:`all_at_k`: ``{"ndcg@k", "recall@k", "hit@k", "mrr@k"}`` as floats."""
    return {name: values.mean().item() for name, values in all_at_k(scores, relevant, k, exclude).items()}


def sampled_ndcg_at_k(scores, positive, negatives, k=10):
    """The "1 positive + n sampled negatives" NDCG@k that many papers report, here to show what it hides
    (Lab 3b; Krichene & Rendle, KDD 2020). The book's own metrics rank the full catalogue.

    ``scores`` float ``[n_users, n_items]``; ``positive`` long ``[n_users]``, one held-out item per user;
    ``negatives`` long ``[n_users, n_neg]``, items the user never interacted with (none equal to the
    positive). The positive's 0-based rank ``r`` among its ``1 + n_neg`` candidates counts the negatives
    scored above it, and those scored equal with a lower item index (the usual tie rule); NDCG@k is
    ``1 / log2(r + 2)`` when ``r < k``, else 0. Returns float ``[n_users]``.
    """
    k = _check_k(k)
    if scores.dim() != 2 or positive.shape != (scores.shape[0],) or negatives.dim() != 2 \
            or negatives.shape[0] != scores.shape[0]:
        raise ValueError(f"expected scores [n_users, n_items], positive [n_users], negatives [n_users, n_neg]; got "
                         f"{tuple(scores.shape)}, {tuple(positive.shape)}, {tuple(negatives.shape)}")
    if (negatives == positive[:, None]).any():
        raise ValueError("a user's negatives contain its positive item; sample them from the items it never saw")
    mine = scores.gather(1, positive[:, None])
    theirs = scores.gather(1, negatives)
    above = (theirs > mine) | ((theirs == mine) & (negatives < positive[:, None]))
    rank = above.sum(dim=1)
    dtype = _dtype(scores)
    return torch.where(rank < k, 1.0 / torch.log2(rank.to(dtype) + 2), torch.zeros((), dtype=dtype, device=scores.device))


# ----------------------------------------------------------------------------------------------------------
# Bootstrap confidence intervals over users


def _as_1d(name, x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of per-user values, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _bootstrap_mean(x, n_resamples, confidence, seed, chunk=1000):
    positive_int("n_resamples", n_resamples)
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in the open interval (0, 1), got {confidence!r}")
    rng = np.random.default_rng(seed)
    n = x.size
    means = np.concatenate([  # resample users with replacement, in chunks to bound memory
        x[rng.integers(0, n, size=(min(chunk, n_resamples - start), n))].mean(axis=1)
        for start in range(0, n_resamples, chunk)
    ])
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(x.mean()), float(low), float(high)


def bootstrap_ci(a, n_resamples=10_000, confidence=0.95, seed=0):
    """Percentile bootstrap interval of the mean of per-user values ``a`` (``[n_users]``).

    Returns ``(mean, low, high)`` as floats; users are resampled with replacement, seeded by ``seed``.
    """
    return _bootstrap_mean(_as_1d("a", a), n_resamples, confidence, seed)


def paired_bootstrap_ci(a, b, n_resamples=10_000, confidence=0.95, seed=0):
    """Paired percentile bootstrap interval of ``mean(a - b)``; ``a``, ``b`` are ``[n_users]`` values of
    two systems on the same users (same order).

    Returns ``(mean_diff, low, high)`` as floats. Resampling users (not a and b separately) keeps the
    pairing, so per-user difficulty cancels and the interval is narrower than an unpaired one.
    """
    a, b = _as_1d("a", a), _as_1d("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length (paired users), got {a.size} and {b.size}")
    return _bootstrap_mean(a - b, n_resamples, confidence, seed)


def paired_over_seeds(a_runs, b_runs, n_resamples=10_000, confidence=0.95, seed=0):
    """Paired comparison of two systems run on several seeds; ``a_runs``, ``b_runs`` are lists with one
    ``[n_users]`` tensor per seed (same seeds, same users, same order).

    Each user's value is averaged over the seeds (which reduces seed variance; the bootstrap over users does not
    include what is left of it), users where either system is NaN (e.g. a share of an empty list) are dropped,
    and the mean difference gets a paired bootstrap interval.
    Returns ``(mean_diff, low, high, per_seed)``, ``per_seed`` being the list of each seed's mean ``a − b``.
    """
    if len(a_runs) != len(b_runs) or not a_runs:
        raise ValueError(f"need the same non-zero number of seeds for a and b, got {len(a_runs)} and {len(b_runs)}")
    a = torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in a_runs]).mean(0)
    b = torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in b_runs]).mean(0)
    keep = ~(a.isnan() | b.isnan())
    per_seed = [(torch.as_tensor(x, dtype=torch.float64) - torch.as_tensor(y, dtype=torch.float64)).nanmean().item()
                for x, y in zip(a_runs, b_runs)]
    return (*paired_bootstrap_ci(a[keep], b[keep], n_resamples, confidence, seed), per_seed)
