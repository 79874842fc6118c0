"""Popularity bias of a recommender, and the distribution mismatch of chapter 4 that can feed it.

Bias metrics on score matrices ``scores`` float ``[n_users, n_items]``, ranked as :mod:`tinyrec.metrics`
ranks them (full catalogue, ``exclude`` items never shown, ties to the lower item index):

* :func:`coverage_at_k` — the share of the catalogue in at least one user's top ``k``.
* :func:`popularity_share` — the share of the top-``k`` slots that go to *head* items: the 10% of items
  with the most **training** interactions (:func:`head_items`).
* :func:`tail_recall_at_k` — Recall@K counting only relevant items outside the head.
* :func:`data_bias` — the same coverage and head share for the held-out interactions themselves.

And the two pieces of Lab 4a's experiment: :func:`later_cohort` (the student sees only the users who
arrived last) and :func:`label_set` (which unobserved items the teacher labels for a student).
"""

import dataclasses

import numpy as np
import torch

from tinyrec import evaluate, metrics
from tinyrec.config import positive_int

__all__ = ["head_items", "coverage_at_k", "popularity_share", "tail_recall_at_k", "data_bias", "bias_report",
           "later_cohort", "label_set"]

coverage_at_k = metrics.coverage_at_k  # one home for the bias metrics; the definition lives in metrics


def head_items(split, share=0.1):
    """Bool ``[n_items]``: the ``share`` of the catalogue with the most training interactions of ``split``
    (ties to the lower item index). Defined by training popularity, never by the held-out items."""
    return ~evaluate.long_tail(split, head=share)


def _check_head(head, scores):
    if not isinstance(head, torch.Tensor) or head.dtype != torch.bool or tuple(head.shape) != (scores.shape[1],):
        got = f"{head.dtype} tensor of shape {tuple(head.shape)}" if isinstance(head, torch.Tensor) else head
        raise ValueError(f"head must be a bool tensor [n_items={scores.shape[1]}], got {got}")
    return head.to(scores.device)


def popularity_share(scores, head, k=10, exclude=None):
    """Per user, the share of the top-``k`` slots that show a head item: float ``[n_users]`` in ``[0, 1]``.

    Every user has ``k`` slots, so the mean over users is the share of *all* recommendation slots that go
    to the head. head: bool ``[n_items]`` (:func:`head_items`); exclude: optional bool ``[n_users, n_items]``.
    """
    k = positive_int("k", k)
    head = _check_head(head, scores)
    if exclude is None:
        exclude = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    exclude = exclude.to(scores.device)
    shown_head = head[None, :] & ~exclude  # the head items a user can still be shown
    can = shown_head.any(dim=1)
    share = torch.zeros(scores.shape[0], dtype=torch.promote_types(scores.dtype, torch.float32),
                        device=scores.device)
    if can.any():  # a user who has seen every head item gets none in the list: share 0
        hits = metrics.top_k_hits(scores[can], shown_head[can], k, exclude[can])
        share[can] = hits.sum(dim=1).to(share.dtype) / k
    return share


def tail_recall_at_k(scores, relevant, head, k=10, exclude=None):
    """Recall@K counting only the relevant items outside the head, for the users who have one.

    scores float, relevant and exclude bool ``[n_users, n_items]``; head bool ``[n_items]``. Returns
    ``(values, users)``: float ``[m]`` and bool ``[n_users]`` (which users have a relevant tail item). The
    ranking is the usual one over all items. ``users`` depends only on ``relevant`` and ``head``, so two
    models evaluated on the same split are compared on the same users (paired).
    """
    head = _check_head(head, scores)
    tail_relevant = relevant.to(scores.device) & ~head[None, :]
    users = tail_relevant.any(dim=1)
    if not users.any():
        raise ValueError("no user has a relevant item outside the head")
    excluded = None if exclude is None else exclude.to(scores.device)[users]
    return metrics.recall_at_k(scores[users], tail_relevant[users], k, exclude=excluded), users


def data_bias(relevant, head):
    """What the data itself shows: ``{"coverage", "pop_share"}`` of the interactions in ``relevant``
    (bool ``[n_users, n_items]``): the share of items with at least one of them, and the share of them on
    head items (bool ``[n_items]``). The reference for a model's coverage and popularity share."""
    if relevant.dtype != torch.bool or relevant.dim() != 2 or not relevant.any():
        raise ValueError("relevant must be a non-empty bool tensor [n_users, n_items]")
    head = _check_head(head, relevant)
    return {"coverage": relevant.any(dim=0).float().mean().item(),
            "pop_share": ((relevant & head[None, :]).sum() / relevant.sum()).item()}


def bias_report(scores, relevant, head, k=10, exclude=None):
    """Quality and bias of one model, means over users: ``{"ndcg@k", "coverage@k", "pop_share@k",
    "tail_recall@k"}``. Arguments as in :func:`popularity_share` and :func:`tail_recall_at_k`."""
    return {f"ndcg@{k}": metrics.ndcg_at_k(scores, relevant, k, exclude).mean().item(),
            f"coverage@{k}": coverage_at_k(scores, k, exclude),
            f"pop_share@{k}": popularity_share(scores, head, k, exclude).mean().item(),
            f"tail_recall@{k}": tail_recall_at_k(scores, relevant, head, k, exclude)[0].mean().item()}


def later_cohort(split, fraction=0.5):
    """The users who arrived last, as a split of their own: ``(cohort, users)``.

    Users are ordered by the timestamp of their first interaction (ties to the lower index); the last
    ``ceil(fraction * n_users)`` form the cohort. ``cohort`` keeps all their train/validation/test rows
    (the same per-user split, so the test protocol is unchanged), with users renumbered ``0..m-1`` in the
    original order and items unchanged (the whole catalogue); ``users`` long ``[m]`` maps cohort rows back
    to ``split``'s users, e.g. ``teacher_scores[users]``. The cohort has its own fingerprint.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    rows = [split.part(name) for name in ("train", "valid", "test")]
    if any("timestamp" not in df for df in rows):
        raise ValueError("later_cohort needs timestamps in every part of the split")
    first = np.full(split.n_users, np.inf)
    for df in rows:
        np.minimum.at(first, df["user"].to_numpy(), df["timestamp"].to_numpy(dtype=float))
    order = np.lexsort((np.arange(split.n_users), first))
    chosen = np.sort(order[len(order) - int(np.ceil(fraction * split.n_users)):])
    renumber = np.full(split.n_users, -1)
    renumber[chosen] = np.arange(len(chosen))

    def keep(df):
        kept = df[renumber[df["user"].to_numpy()] >= 0]
        return kept.assign(user=renumber[kept["user"].to_numpy()]).reset_index(drop=True)

    cohort = dataclasses.replace(split, train=keep(split.train), valid=keep(split.valid), test=keep(split.test),
                                 user_ids=split.user_ids[chosen],
                                 fingerprint=f"{split.fingerprint}|later cohort {fraction:g}")
    return cohort, torch.as_tensor(chosen, dtype=torch.long)


def label_set(teacher_scores, seen, top_k, n_sampled=0, weights=None, generator=None):
    """The unobserved items the teacher labels for each user: bool ``[b, n_items]``, True = labelled.

    The teacher's ``top_k`` best unseen items, plus ``n_sampled`` other unseen items drawn without
    replacement with probability proportional to ``weights`` (float ``[n_items]``, non-negative; ``None``
    = uniform; e.g. ``1 / training count`` favours the tail: popularity-corrected sampling), with
    ``generator``. teacher_scores float, seen bool ``[b, n_items]``; ties to the lower item index.
    """
    top_k = positive_int("top_k", top_k)
    n_sampled = positive_int("n_sampled", n_sampled, minimum=0)
    if seen.shape != teacher_scores.shape or seen.dtype != torch.bool:
        raise ValueError(f"seen must be bool of shape {tuple(teacher_scores.shape)}, got {seen.dtype} "
                         f"{tuple(seen.shape)}")
    fewest = int((~seen).sum(dim=1).min())
    if top_k + n_sampled > fewest:
        raise ValueError(f"top_k + n_sampled = {top_k + n_sampled}, but some user has only {fewest} unseen items")
    key = teacher_scores.detach().clamp(min=torch.finfo(teacher_scores.dtype).min).masked_fill(seen, float("-inf"))
    top = key.sort(dim=1, descending=True, stable=True).indices[:, :top_k]
    labelled = torch.zeros_like(seen)
    labelled.scatter_(1, top, True)
    if n_sampled:
        if weights is None:
            weights = torch.ones(seen.shape[1], device=seen.device)
        weights = torch.as_tensor(weights, dtype=torch.float32, device=seen.device)
        if tuple(weights.shape) != (seen.shape[1],) or (weights < 0).any() or not torch.isfinite(weights).all():
            raise ValueError(f"weights must be finite, non-negative, of shape [{seen.shape[1]}]")
        candidates = weights[None, :].expand_as(key).masked_fill(seen | labelled, 0.0)
        if int((candidates > 0).sum(dim=1).min()) < n_sampled:
            raise ValueError(f"some user has fewer than n_sampled={n_sampled} unseen items of positive weight")
        labelled.scatter_(1, torch.multinomial(candidates, n_sampled, generator=generator), True)
    return labelled
