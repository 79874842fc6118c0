"""The book's trained models, each cached on disk, and the settings the chapters chose.

Every lab that needs "the EASE teacher", "chapter 0's BPR-MF" or "chapter 1's distilled student" asks
for it here, so it is trained once (per seed and configuration) and reused by every later notebook.
Each recipe names the code its model runs (the training loop, the model's class, the distillation term,
the split); :mod:`tinyrec.cache` follows everything that code uses, so a change to any of it (but not to
a comment, a docstring or an unrelated function) trains the model again.

The settings a chapter chose on validation live here too, in one place, so that later chapters use
them instead of re-typing them; the lab that chooses them checks that its choice is the one recorded.
"""

import copy

import numpy as np
import torch

from tinyrec import data, distill, evaluate, models, prune, share, train
from tinyrec.cache import cached
from tinyrec.config import default_device, resolve_seed, seed_everything

# Chosen in Lab 1b (01_distilling_a_recommender) on the validation items of its first seed, with the same
# budget of five configurations for every student of BPR-MF d=64; that lab asserts its choices are these.
CHOSEN = {
    "plain": {"method": None, "lr": 1e-3, "weight_decay": 1e-5},
    "pointwise": {"method": "pointwise", "temperature": 0.1, "alpha": 0.5},
    "listwise": {"method": "listwise", "temperature": 0.05, "alpha": 0.8},
    "ranking": {"method": "ranking", "lam": 10.0, "alpha": 0.5},
}
BEST_KD_METHOD = "listwise KD"  # the distillation method Lab 1b chose on validation
LISTWISE_KD = CHOSEN["listwise"]
SHARE_KEYS = {"kind", "reduction", "tables", "own"}
# The EASE teacher's regularisation (Lab 0): RecBole's setting on this protocol.
EASE_LAMBDA = 300.0



def trained_ease(split, lam=EASE_LAMBDA):
    """The EASE teacher fitted in closed form on ``split``'s training part. Returns the model."""
    model, _ = cached("ease", {"lam": float(lam)}, split, code=(models.EASE, data.split_per_user),
                      fit=lambda: (models.EASE(split.n_items, lam).fit(split.matrix("train")), []),
                      build=lambda: models.EASE(split.n_items, lam))
    return model


def _builder(split, dim, share_as):
    """Makes the untrained BPR-MF: plain, or with tables shared as ``share_as`` = ``{"kind", "reduction"}`` and
    optionally ``"tables"`` and ``"own"`` (:func:`tinyrec.share.shared_bprmf`; frequency-aware sharing counts
    each id's training interactions in ``split``)."""
    if share_as is None:
        return lambda: models.BPRMF(split.n_users, split.n_items, dim)
    if not isinstance(share_as, dict) or not {"kind", "reduction"} <= set(share_as) <= SHARE_KEYS:
        raise ValueError(f"share must be None or a dict with 'kind' ('qr', 'hash' or 'frequency') and 'reduction', "
                         f"optionally 'tables' and 'own'; got {share_as!r}")
    counts = None
    if share_as["kind"] == "frequency":
        train_matrix = split.matrix("train")
        counts = {"user": np.asarray(train_matrix.sum(axis=1)).ravel(),
                  "item": np.asarray(train_matrix.sum(axis=0)).ravel()}
    return lambda: share.shared_bprmf(split.n_users, split.n_items, dim, counts=counts, **share_as)


def _code(share_as):
    """The code a BPR-MF recipe runs: the split, the seeding, the model's class and the training loop."""
    return (data.split_per_user, _fresh, train.train_bpr, models.BPRMF) + ((_builder,) if share_as else ())


def _fresh(build, seed):
    """``build()`` after seeding everything with ``seed``, on the training device."""
    seed_everything(seed)
    return build().to(default_device())


def trained_bpr(split, dim=64, seed=None, progress=True, share=None, **settings):
    """BPR-MF trained by :func:`tinyrec.train.train_bpr` with ``settings``. Returns ``(model, history)``.

    ``share = {"kind": "qr" | "hash" | "frequency", "reduction": r}`` (and optionally ``"tables"``, ``"own"``)
    shares embedding rows (:func:`tinyrec.share.shared_bprmf`).
    """
    seed = resolve_seed(seed)
    build = _builder(split, dim, share)
    config_ = {"dim": dim, "seed": seed, **settings, **({"share": share} if share else {})}
    return cached("bpr", config_, split, code=_code(share),
                  fit=lambda: train.train_bpr(_fresh(build, seed), split, seed=seed, progress=progress, **settings),
                  build=build)


def trained_student(split, method=None, dim=64, temperature=0.05, alpha=0.5, seed=None, teacher_lam=EASE_LAMBDA,
                    progress=True, share=None, teacher="ease", **settings):
    """BPR-MF trained with a distillation term from the EASE teacher. Returns ``(model, history)``.

    ``method`` is ``None`` (no distillation: the plain :func:`trained_bpr` model) or one of
    :data:`tinyrec.distill.METHODS`; each step minimises ``(1 - alpha) * BPR + alpha * distillation``.
    ``teacher="constant"`` replaces EASE by a teacher that gives every item the same score: the control
    that tells what distillation gains from the teacher's knowledge and what from the extra loss alone
    (for listwise KD its soft target is uniform over the user's unseen items).
    ``settings`` go to :func:`tinyrec.distill.student_objective` (``top_k``, ``lam``, ``users_per_step``)
    or to :func:`tinyrec.train.train_bpr`; ``share`` as in :func:`trained_bpr`.
    """
    if method is None:
        return trained_bpr(split, dim=dim, seed=seed, progress=progress, share=share, **settings)
    if teacher not in ("ease", "constant"):
        raise ValueError(f"teacher must be 'ease' or 'constant', got {teacher!r}")
    seed = resolve_seed(seed)
    objective_keys = {"top_k", "lam", "users_per_step"}
    objective = {k: v for k, v in settings.items() if k in objective_keys}
    training = {k: v for k, v in settings.items() if k not in objective_keys}
    if method != "ranking":
        objective["temperature"] = temperature
    build = _builder(split, dim, share)

    def fit():
        extra = distillation_term(split, method, seed, teacher=teacher, teacher_lam=teacher_lam, **objective)
        return train.train_bpr(_fresh(build, seed), split, seed=seed, progress=progress, extra_loss=extra,
                               alpha=alpha, **training)

    config_ = {"dim": dim, "seed": seed, "method": method, "alpha": alpha,
               "teacher": {"ease": teacher_lam} if teacher == "ease" else {"constant": 0.0},
               **objective, **training, **({"share": share} if share else {})}
    return cached("student", config_, split, code=(*_code(share), distillation_term), fit=fit, build=build)


def distillation_term(split, method, seed=None, teacher="ease", teacher_lam=EASE_LAMBDA, **objective):
    """The distillation term a student of :func:`trained_student` adds to its loss, as
    ``extra_loss(model, users)`` for :func:`tinyrec.train.train_bpr` (the teacher scored once, frozen).

    ``objective`` goes to :func:`tinyrec.distill.student_objective` (``temperature``, ``top_k``, ...).
    """
    if teacher not in ("ease", "constant"):
        raise ValueError(f"teacher must be 'ease' or 'constant', got {teacher!r}")
    teacher_scores = evaluate.score_all(trained_ease(split, lam=teacher_lam), split).to(default_device())
    if teacher == "constant":
        teacher_scores = torch.zeros_like(teacher_scores)
    generator = torch.Generator(device=default_device()).manual_seed(resolve_seed(seed))
    return distill.student_objective(method, teacher_scores, split.mask("train", default_device()),
                                     generator=generator, **objective)


def pruned_bpr(split, sparsities, dim=64, seed=None, progress=True, **settings):
    """Chapter 0's BPR-MF pruned iteratively: for each sparsity in turn, prune both embedding tables
    globally (:func:`tinyrec.prune.prune_globally`), then fine-tune with the pruned weights held at zero.

    ``sparsities``: increasing values in ``[0, 1)``, e.g. ``(0.5, 0.75, 0.9)``; ``settings`` go to the
    training of the unpruned model (:func:`trained_bpr`) and to each fine-tune (:func:`tinyrec.train.train_bpr`). Every prefix of ``sparsities`` is cached, so asking for
    ``(0.5, 0.75)`` after ``(0.5,)`` fine-tunes once more. Returns ``(model, history)``: one
    ``{"sparsity", "epochs", "valid_ndcg@10"}`` per step (``epochs`` of fine-tuning, best validation score).
    """
    sparsities = tuple(float(s) for s in sparsities)
    if not sparsities or list(sparsities) != sorted(sparsities) or not all(0.0 <= s < 1.0 for s in sparsities):
        raise ValueError(f"sparsities must be increasing values in [0, 1), got {sparsities!r}")
    seed = resolve_seed(seed)

    def fit():
        if len(sparsities) == 1:
            start, before = trained_bpr(split, dim=dim, seed=seed, progress=progress, **settings)[0], []
        else:
            start, before = pruned_bpr(split, sparsities[:-1], dim=dim, seed=seed, progress=progress, **settings)
        model = copy.deepcopy(start).to(default_device())
        masks = prune.prune_globally(model, sparsities[-1])
        model, steps = train.train_bpr(model, split, seed=seed, progress=progress,
                                       after_step=prune.keep_pruned(model, masks), **settings)
        step = {"sparsity": sparsities[-1], "epochs": steps[-1]["epoch"],
                "valid_ndcg@10": max(s["valid_ndcg@10"] for s in steps)}
        return model, before + [step]

    config_ = {"dim": dim, "seed": seed, "sparsities": list(sparsities), **settings}
    return cached("pruned_bpr", config_, split, code=(*_code(None), prune.prune_globally, prune.keep_pruned), fit=fit,
                  build=lambda: models.BPRMF(split.n_users, split.n_items, dim))


def truncated_bpr(split, rank, dim=64, seed=None, progress=True, **settings):
    """Chapter 0's BPR-MF cut to ``rank`` dimensions by truncated SVD (:func:`tinyrec.prune.truncate_rank`),
    then fine-tuned as a ``rank``-dimensional BPR-MF (early stopping on validation, the truncated start
    included). ``settings`` go to the unpruned model's training and to the fine-tune. Returns
    ``(model, history)``: the fine-tune's history.
    """
    seed = resolve_seed(seed)

    def fit():
        full, _ = trained_bpr(split, dim=dim, seed=seed, progress=progress, **settings)
        user, item = prune.truncate_rank(full.user.weight, full.item.weight, rank)
        model = models.with_weights(models.BPRMF(split.n_users, split.n_items, rank),
                                    {"user.weight": user, "item.weight": item}).to(default_device())
        return train.train_bpr(model, split, seed=seed, progress=progress, **settings)

    config_ = {"dim": dim, "rank": rank, "seed": seed, **settings}
    return cached("truncated_bpr", config_, split, code=(*_code(None), prune.truncate_rank, models.with_weights),
                  fit=fit, build=lambda: models.BPRMF(split.n_users, split.n_items, rank))


# Lab 2c's tuning budget: every tuned BPR-MF variant tries these learning rates and keeps the best on validation.
LEARNING_RATES = (1e-3, 3e-3, 1e-2)


def tuned_bpr(split, seed=None, learning_rates=LEARNING_RATES, **settings):
    """:func:`trained_bpr` at each of ``learning_rates``; keeps the one with the best validation NDCG@10.

    ``settings`` go to :func:`trained_bpr` (``dim``, ``share``, ...). Returns ``(model, lr)``.
    """
    if not learning_rates:
        raise ValueError("learning_rates must name at least one learning rate")
    candidates = {lr: trained_bpr(split, seed=seed, lr=lr, progress=False, **settings)[0] for lr in learning_rates}
    best = max(candidates, key=lambda lr: evaluate.ndcg(candidates[lr], split, "valid"))
    return candidates[best], best


# Lab 4b (the capacity gap): the budget of every student of its sweep, plain or distilled — the same two
# learning rates (the lab chooses one per configuration on the validation items of its first seed) and the
# same epoch cap and patience.
GAP_LEARNING_RATES = (3e-3, 1e-2)
GAP_TRAINING = {"max_epochs": 50, "patience": 5}
TEACHER_KINDS = ("ease", "bpr", "student")


def _check_teacher(teacher):
    """``teacher`` if it is a spec :func:`teacher_model` knows, else ``ValueError``."""
    kind = teacher.get("kind") if isinstance(teacher, dict) else None
    keys = {"ease": {"kind"}, "bpr": {"kind", "dim"}, "student": {"kind", "dim", "lr", "teacher"}}.get(kind)
    if keys is None or set(teacher) != keys:
        raise ValueError("teacher must be {'kind': 'ease'}, {'kind': 'bpr', 'dim': d} or {'kind': 'student', "
                         f"'dim': d, 'lr': lr, 'teacher': a teacher spec or None}}, got {teacher!r}")
    if kind == "student" and teacher["teacher"] is not None:
        _check_teacher(teacher["teacher"])
    return teacher


def teacher_model(split, teacher, seed=None):
    """The trained model a teacher spec names, for :func:`distilled_student`:

    ``{"kind": "ease"}`` — :func:`trained_ease`; ``{"kind": "bpr", "dim": d}`` — :func:`trained_bpr` with its
    default settings (``d = 64`` is Lab 0's model); ``{"kind": "student", "dim": d, "lr": lr, "teacher": t}`` —
    a student of Lab 4b's sweep (:func:`gap_student`), plain when ``t`` is None, else distilled from the
    teacher spec ``t``: a teacher assistant, or its control.
    """
    kind = _check_teacher(teacher)["kind"]
    if kind == "ease":
        return trained_ease(split)
    if kind == "bpr":
        return trained_bpr(split, dim=teacher["dim"], seed=seed, progress=False)[0]
    return gap_student(split, teacher["dim"], teacher["teacher"], seed=seed, lr=teacher["lr"])[0]


def listwise_temperature(split, teacher, seed=None):
    """The listwise KD temperature for ``teacher`` (a spec of :func:`teacher_model`): Lab 1b's for EASE;
    for any other teacher, the one at which its soft target is as peaked (the same mean entropy over the
    users' unseen items) as EASE's at Lab 1b's temperature (:func:`tinyrec.distill.matched_temperature`)."""
    if _check_teacher(teacher)["kind"] == "ease":
        return LISTWISE_KD["temperature"]
    seen = split.mask("train")
    reference = distill.target_entropy(evaluate.score_all(trained_ease(split), split), LISTWISE_KD["temperature"],
                                       exclude=seen)
    scores = evaluate.score_all(teacher_model(split, teacher, seed), split)
    return distill.matched_temperature(scores, reference, exclude=seen)


def distilled_student(split, teacher, dim, seed=None, alpha=LISTWISE_KD["alpha"], progress=True, **settings):
    """BPR-MF of ``dim`` distilled from any teacher by listwise KD. Returns ``(model, history)``.

    ``teacher``: a spec of :func:`teacher_model`; the temperature is :func:`listwise_temperature`'s, ``alpha``
    Lab 1b's. ``settings`` go to :func:`tinyrec.train.train_bpr` (``lr``, ``max_epochs``, ...). Each step
    minimises ``(1 - alpha) * BPR + alpha * listwise KD`` against the teacher's scores, computed once.
    """
    seed = resolve_seed(seed)
    _check_teacher(teacher)
    build = _builder(split, dim, None)

    def fit():
        scores = evaluate.score_all(teacher_model(split, teacher, seed), split).to(default_device())
        generator = torch.Generator(device=default_device()).manual_seed(seed)
        extra = distill.student_objective("listwise", scores, split.mask("train", default_device()),
                                          temperature=listwise_temperature(split, teacher, seed), generator=generator)
        return train.train_bpr(_fresh(build, seed), split, seed=seed, progress=progress, extra_loss=extra,
                               alpha=alpha, **settings)

    config_ = {"dim": dim, "seed": seed, "teacher": teacher, "alpha": alpha, **settings}
    return cached("distilled", config_, split, code=(*_code(None), distilled_student, teacher_model), fit=fit,
                  build=build)


def gap_student(split, dim, teacher=None, seed=None, lr=GAP_LEARNING_RATES[0]):
    """A student of Lab 4b's sweep, trained with :data:`GAP_TRAINING` at ``lr``: plain BPR-MF of ``dim``
    (:func:`trained_bpr`) when ``teacher`` is None, else :func:`distilled_student` from ``teacher`` (a spec
    of :func:`teacher_model`). Returns ``(model, history)``."""
    if teacher is None:
        return trained_bpr(split, dim=dim, seed=seed, progress=False, lr=lr, **GAP_TRAINING)
    return distilled_student(split, teacher, dim, seed=seed, progress=False, lr=lr, **GAP_TRAINING)


def tuned_gap_student(split, dim, teacher=None, seed=None, learning_rates=GAP_LEARNING_RATES):
    """:func:`gap_student` at each of ``learning_rates``; keeps the one with the best validation NDCG@10,
    so a plain and a distilled student get the same tuning budget. Returns ``(model, lr)``."""
    if not learning_rates:
        raise ValueError("learning_rates must name at least one learning rate")
    candidates = {lr: gap_student(split, dim, teacher, seed, lr)[0] for lr in learning_rates}
    best = max(candidates, key=lambda lr: evaluate.ndcg(candidates[lr], split, "valid"))
    return candidates[best], best
