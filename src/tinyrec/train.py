"""Seeding, the BPR training loop, and the on-disk cache of trained models.

Trained models are cached in ``$TINYREC_CACHE/models`` keyed by everything that determines them:
the model's name and configuration (seed included), the split (data hash, seed, ratios), and the
source code of the modules that build and train it. Loading uses ``torch.load(weights_only=True)``,
which never executes code from the file.
"""

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm


def resolve_seed(seed=None):
    """``seed`` itself, or ``TINYREC_SEED`` (default 0) when it is ``None``; must be a non-negative int."""
    if seed is None:
        raw = os.environ.get("TINYREC_SEED", "0")
        try:
            seed = int(raw)
        except ValueError:
            raise ValueError(f"TINYREC_SEED must be an integer, got {raw!r}") from None
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def seed_everything(seed=None):
    """Seed Python, NumPy and torch; ``None`` reads ``TINYREC_SEED`` (default 0). Returns the seed."""
    seed = resolve_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed


def sample_negatives(users, positives, generator=None):
    """One uniformly random item per user that is not among the user's training positives.

    users: long ``[b]``; positives: bool ``[n_users, n_items]`` -> long ``[b]``. Items that hit a
    positive are redrawn until none does, so no "negative" is secretly a positive.
    """
    n_items = positives.shape[1]
    items = torch.randint(n_items, users.shape, generator=generator, device=users.device)
    hits = positives[users, items]
    while hits.any():
        items[hits] = torch.randint(n_items, (int(hits.sum()),), generator=generator, device=users.device)
        hits = positives[users, items]
    return items


def train_bpr(split, dim=64, lr=1e-3, weight_decay=1e-5, batch_size=2048, max_epochs=300, patience=10, seed=None,
              device=None, progress=True, extra_loss=None, alpha=0.0, build=None, masks=None):
    """Train :class:`~tinyrec.models.BPRMF` with early stopping on validation NDCG@10.

    One sampled negative per training interaction per epoch; Adam; after each epoch the model is
    evaluated on the validation part (full ranking) and the best epoch's weights are kept.
    With ``extra_loss(model, users)`` (users: long ``[b]``, the distinct users of a batch -> scalar),
    e.g. a distillation loss, each step minimises ``(1 - alpha) * BPR + alpha * extra_loss``.
    ``build()``, called after seeding, returns the model to train instead of a fresh ``BPRMF(dim)`` (one with
    shared embedding tables, or a trained one to fine-tune). ``masks`` (``{parameter name: bool tensor}``)
    are re-applied after every step, so pruned weights stay exactly zero while the others are fine-tuned.
    Returns ``(model, history)``; history is a list of ``{"epoch", "loss", "valid_ndcg@10"}``.
    """
    if not 0.0 <= alpha <= 1.0 or (alpha > 0 and extra_loss is None):
        raise ValueError(f"alpha must be in [0, 1] (and > 0 only with an extra_loss), got {alpha!r}")
    from tinyrec.evaluate import evaluate
    from tinyrec.models import BPRMF, bpr_loss

    seed = seed_everything(seed)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    generator = torch.Generator(device=device).manual_seed(seed)
    model = (build() if build is not None else BPRMF(split.n_users, split.n_items, dim)).to(device)
    parameters = dict(model.named_parameters())
    masks = {name: _mask_for(parameters, name, mask).to(device) for name, mask in (masks or {}).items()}

    @torch.no_grad()
    def apply_masks():
        for name, mask in masks.items():
            parameters[name].mul_(mask)

    apply_masks()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    users = torch.as_tensor(split.train["user"].to_numpy(copy=True), device=device)
    items = torch.as_tensor(split.train["item"].to_numpy(copy=True), device=device)
    positives = split.mask("train", device=device)
    best, best_state, history, waited = -1.0, None, [], 0
    bar = tqdm(range(1, max_epochs + 1), desc=f"BPR-MF d={dim}" + (" + distillation" if extra_loss else ""), disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(users), generator=generator, device=device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            u, i = users[batch], items[batch]
            j = sample_negatives(u, positives, generator)
            loss = bpr_loss(model.pair_scores(u, i), model.pair_scores(u, j))
            if extra_loss is not None:
                loss = (1 - alpha) * loss + alpha * extra_loss(model, torch.unique(u))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            apply_masks()
            total += loss.item() * len(batch)
        score = evaluate(model, split, "valid")["ndcg@10"]
        history.append({"epoch": epoch, "loss": total / len(order), "valid_ndcg@10": score})
        bar.set_postfix(loss=f"{total / len(order):.4f}", valid_ndcg=f"{score:.4f}")
        if score > best:
            best, waited = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    return model.eval(), history


def _mask_for(parameters, name, mask):
    """``mask`` checked against the parameter ``name`` it will be applied to."""
    if name not in parameters:
        raise ValueError(f"no parameter {name!r} to mask; the model has {sorted(parameters)}")
    if mask.dtype != torch.bool or mask.shape != parameters[name].shape:
        raise ValueError(f"the mask of {name!r} must be bool {tuple(parameters[name].shape)}, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    return mask


def code_version():
    """Short SHA-256 of the source of the modules that determine a trained model."""
    from tinyrec import data, distill, evaluate, metrics, models, share

    digest = hashlib.sha256()
    for module in (data, distill, evaluate, metrics, models, share):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_path(name, config, split):
    """Where the model ``name`` with ``config``, trained on ``split`` by the current code, is cached."""
    from tinyrec.data import cache_dir

    identity = {"name": name, "config": config, "split": split.fingerprint, "code": code_version()}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "models" / f"{name}-{key}.pt"


def cached(name, config, split, fit, build):
    """``(model, history)`` from ``fit()``, or from the on-disk cache if this exact model was trained before.

    ``config`` (JSON-serialisable) must hold every setting that changes the result; ``build()`` makes an
    untrained model of the right shape to load the cached weights into.
    """
    path = cache_path(name, config, split)
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build()
        model.load_state_dict(saved["state_dict"])
        return model.eval(), saved["history"]
    model, history = fit()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "history": history}, partial)
    partial.replace(path)
    return model.eval(), history


def _builder(split, dim, share):
    """Makes the untrained BPR-MF: plain, or with tables shared as ``share = {"kind", "reduction"}``."""
    from tinyrec.models import BPRMF
    from tinyrec.share import shared_bprmf

    if share is None:
        return lambda: BPRMF(split.n_users, split.n_items, dim)
    if not isinstance(share, dict) or set(share) != {"kind", "reduction"}:
        raise ValueError(f"share must be None or {{'kind': 'qr' | 'hash', 'reduction': number}}, got {share!r}")
    return lambda: shared_bprmf(split.n_users, split.n_items, dim, **share)


def trained_bpr(split, dim=64, seed=None, progress=True, share=None, **settings):
    """BPR-MF trained by :func:`train_bpr` (cached on disk). Returns ``(model, history)``.

    ``share = {"kind": "qr" | "hash", "reduction": r}`` shares embedding rows (:func:`tinyrec.share.shared_bprmf`).
    """
    seed = resolve_seed(seed)
    build = _builder(split, dim, share)
    config = {"dim": dim, "seed": seed, **settings, **({"share": share} if share else {})}
    return cached("bpr", config, split,
                  fit=lambda: train_bpr(split, dim=dim, seed=seed, progress=progress, build=build, **settings),
                  build=build)


def trained_ease(split, lam=300.0):
    """The EASE teacher fitted in closed form (cached on disk). Returns the model."""
    from tinyrec.models import EASE

    model, _ = cached(
        "ease", {"lam": float(lam)}, split,
        fit=lambda: (EASE(split.n_items, lam).fit(split.matrix("train")), []),
        build=lambda: EASE(split.n_items, lam),
    )
    return model


def trained_student(split, method=None, dim=64, temperature=0.05, alpha=0.5, seed=None, teacher_lam=300.0,
                    progress=True, share=None, **settings):
    """BPR-MF trained with a distillation term from the EASE teacher (cached on disk).

    ``method`` is ``None`` (no distillation: the plain :func:`trained_bpr` model) or one of
    :data:`tinyrec.distill.METHODS`; each step minimises ``(1 - alpha) * BPR + alpha * distillation``.
    ``settings`` go to :func:`tinyrec.distill.student_objective` (``top_k``, ``lam``, ``users_per_step``)
    or to :func:`train_bpr`; ``share`` as in :func:`trained_bpr`. Returns ``(model, history)``.
    """
    from tinyrec import distill
    from tinyrec.evaluate import score_all

    if method is None:
        return trained_bpr(split, dim=dim, seed=seed, progress=progress, share=share, **settings)
    seed = resolve_seed(seed)
    objective_keys = {"top_k", "lam", "users_per_step"}
    objective = {k: v for k, v in settings.items() if k in objective_keys}
    training = {k: v for k, v in settings.items() if k not in objective_keys}
    if method != "ranking":
        objective["temperature"] = temperature

    def fit():
        teacher = trained_ease(split, lam=teacher_lam)
        generator = torch.Generator().manual_seed(seed)
        extra = distill.student_objective(method, score_all(teacher, split), split.mask("train"),
                                          generator=generator, **objective)
        return train_bpr(split, dim=dim, seed=seed, progress=progress, extra_loss=extra, alpha=alpha, build=build,
                         **training)

    build = _builder(split, dim, share)
    config = {"dim": dim, "seed": seed, "method": method, "alpha": alpha, "teacher": {"ease": teacher_lam},
              **objective, **training, **({"share": share} if share else {})}
    return cached("student", config, split, fit=fit, build=build)
