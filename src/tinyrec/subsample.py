"""Data-side compression: keep a fraction of each user's training interactions, at random or by a teacher.

A student trained on fewer interactions trains faster; which interactions to keep is the question. The
teacher, which saw them all, can rank a user's interactions: the ones it finds most predictable from the
user's other items (``"teacher-typical"``) or least (``"teacher-surprising"``). The control for a teacher
that mostly keeps popular items is ``"popular"``: the interactions with the items most often seen in training.
"""

import dataclasses

import numpy as np
import torch

from tinyrec.config import resolve_seed

RULES = ("random", "teacher-typical", "teacher-surprising", "popular")
TEACHER_RULES = ("teacher-typical", "teacher-surprising")


def keep_interactions(split, fraction, rule, teacher_scores=None, seed=None):
    """A copy of ``split`` whose training part keeps ``ceil(fraction * n_u)`` of each user's ``n_u``
    training interactions (at least one); validation and test are unchanged.

    ``rule``: ``"random"`` (uniform, drawn with ``seed``), ``"teacher-typical"`` (the interactions with the
    highest ``teacher_scores``, float ``[n_users, n_items]``), ``"teacher-surprising"`` (the lowest) or
    ``"popular"`` (the items with the most training interactions of all users); ties go to the lower item
    index. The copy has its own fingerprint, so models trained on it are cached apart from those trained on
    the whole split.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    train = split.train
    if rule == "random":
        key = np.random.default_rng(resolve_seed(seed)).random(len(train))
    elif rule == "popular":
        counts = np.bincount(train["item"].to_numpy(), minlength=split.n_items)
        key = -counts[train["item"].to_numpy()].astype(float)
    else:
        if teacher_scores is None or tuple(teacher_scores.shape) != (split.n_users, split.n_items):
            shape = None if teacher_scores is None else tuple(teacher_scores.shape)
            raise ValueError(f"rule {rule!r} needs teacher_scores of shape {(split.n_users, split.n_items)}, "
                             f"got {shape}")
        scores = torch.as_tensor(teacher_scores).double()[train["user"].to_numpy(copy=True), train["item"].to_numpy(copy=True)]
        key = -scores.numpy() if rule == "teacher-typical" else scores.numpy()
    order = np.lexsort((train["item"].to_numpy(), key, train["user"].to_numpy()))  # by user, then key, then item
    ranked = train.iloc[order]
    position = ranked.groupby("user").cumcount().to_numpy()
    sizes = ranked.groupby("user")["user"].transform("size").to_numpy()
    kept = ranked[position < np.maximum(1, np.ceil(fraction * sizes - 1e-9))]
    kept = kept.sort_values(["user", "item"]).reset_index(drop=True)
    label = f"{rule}" + (f"/{resolve_seed(seed)}" if rule == "random" else "")
    return dataclasses.replace(split, train=kept, fingerprint=f"{split.fingerprint}|keep {fraction:g} {label}")

