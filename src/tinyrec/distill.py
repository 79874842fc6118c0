"""Knowledge-distillation losses: Hinton's soft targets, and three ways to distil a recommender.

Every loss takes the student's scores (with gradient) and the teacher's (detached inside: the teacher
never receives a gradient, so it may come from ``torch.no_grad()`` or from a cache). Shapes:
``b`` rows (users, or examples), ``n`` items (or classes).

* :func:`kd_loss` — Hinton et al. (2015): ``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``.
* :func:`distillation_loss` — ``alpha · kd + (1 − alpha) · hard loss``.
* :func:`listwise_kd_loss` — :func:`kd_loss` over a user's whole catalogue, seen items left out.
* :func:`pointwise_kd_loss` — one soft binary label per (user, item): ``sigmoid(teacher/T)``.
* :func:`ranking_distillation_loss` — Tang & Wang (KDD 2018): the teacher's top-K unseen items as extra,
  position-weighted positives (with :func:`teacher_top_k` and :func:`rank_weights`).
* :func:`matched_temperature` — a listwise temperature carried over to a teacher of another score scale.
* :func:`assistant_dim` — the size of a teacher assistant (Mirzadeh et al., AAAI 2020).
"""

import math
import numbers

import torch
import torch.nn.functional as F

from tinyrec.config import positive_int

__all__ = [
    "kd_loss", "distillation_loss", "listwise_kd_loss", "pointwise_kd_loss",
    "teacher_top_k", "rank_weights", "ranking_distillation_loss", "student_objective", "target_entropy",
    "matched_temperature", "assistant_dim",
]

REDUCTIONS = ("batchmean", "sum", "none")


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_pair(student, teacher):
    """Both ``[b, n]`` floating tensors of the same shape; returns the teacher detached."""
    for name, x in (("student", student), ("teacher", teacher)):
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 2:
            got = (f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor)
                   else type(x).__name__)
            raise ValueError(f"{name} scores must be a 2-D floating tensor [b, n_items], got {got}")
    if student.shape != teacher.shape:
        raise ValueError(f"student and teacher scores must have the same shape, got {tuple(student.shape)} "
                         f"and {tuple(teacher.shape)}")
    return teacher.detach()


def _check_mask(name, mask, scores):
    """``None``, or a bool ``[b, n]`` mask that leaves at least one item in every row."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != scores.shape:
        got = f"{mask.dtype} tensor of shape {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else mask
        raise ValueError(f"{name} must be a bool tensor of shape {tuple(scores.shape)} (True = leave the "
                         f"item out), got {got}")
    full = mask.all(dim=1).nonzero().flatten().tolist()
    if full:
        raise ValueError(f"{name} leaves no item in {len(full)} row(s), e.g. row {full[:5]}; every row needs "
                         "at least one item to put probability on")
    return mask.to(scores.device)


def kd_loss(student_logits, teacher_logits, temperature, reduction="batchmean", mask=None):
    """Hinton's soft-target loss ``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``.

    student_logits, teacher_logits: float ``[b, n]``. The teacher is detached: no gradient reaches it.
    temperature: ``T > 0``. A high ``T`` flattens both distributions, so the small probabilities the
    teacher gives to wrong-but-plausible answers ("dark knowledge") carry weight. The gradient of the
    KL term shrinks like ``1/T²`` for large ``T``; the ``T²`` factor undoes that, so the loss keeps
    the same scale when ``T`` changes (Hinton et al., 2015, section 2).
    reduction: ``"batchmean"`` (sum over items, mean over rows; a scalar), ``"sum"`` (a scalar) or
    ``"none"`` (one value per row, ``[b]``).
    mask: optional bool ``[b, n]``, True = leave the item out of both softmaxes (e.g. the user's
    training items). Masked items get probability 0, contribute 0 and receive zero gradient.

    Computed with ``log_softmax``, so it stays finite for logits as large as 1e4.
    """
    temperature = _check_positive("temperature", temperature)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    teacher_logits = _check_pair(student_logits, teacher_logits)
    mask = _check_mask("mask", mask, student_logits)
    student = student_logits / temperature
    teacher = teacher_logits / temperature
    if mask is not None:
        student = student.masked_fill(mask, float("-inf"))
        teacher = teacher.masked_fill(mask, float("-inf"))
    log_q = F.log_softmax(student, dim=1)
    log_p = F.log_softmax(teacher, dim=1)
    p = log_p.exp()  # exactly 0 on masked items
    if mask is not None:  # there log p − log q = −inf + inf = NaN; 0 · log 0 is 0, so put 0 instead
        log_q = log_q.masked_fill(mask, 0.0)
        log_p = log_p.masked_fill(mask, 0.0)
    per_row = (p * (log_p - log_q)).sum(dim=1) * temperature ** 2
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    return per_row.mean()


def distillation_loss(student_logits, teacher_logits, hard_loss, temperature, alpha, mask=None):
    """The classic mixture ``alpha · kd_loss + (1 − alpha) · hard_loss``.

    hard_loss: a scalar tensor, the student's usual loss on the true labels (cross-entropy, BPR, ...).
    alpha in [0, 1]: 1 = learn from the teacher only, 0 = ignore it. The ``T²`` inside :func:`kd_loss`
    keeps the two terms on comparable scales whatever the temperature. ``mask`` goes to :func:`kd_loss`.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    hard_loss = torch.as_tensor(hard_loss)
    if hard_loss.dim() != 0:
        raise ValueError(f"hard_loss must be a scalar (already reduced), got shape {tuple(hard_loss.shape)}")
    soft = kd_loss(student_logits, teacher_logits, temperature, mask=mask)
    return alpha * soft + (1 - alpha) * hard_loss


def listwise_kd_loss(student_scores, teacher_scores, temperature, exclude=None):
    """Listwise catalogue KD for a recommender: one softmax over all items per user.

    Each user is a "classification" over the catalogue: the teacher's distribution
    ``softmax(teacher_scores[u] / T)`` over the items the user has not seen is the soft target for the
    student's. This is :func:`kd_loss` (``"batchmean"``) with the seen items masked out: they are not
    candidates to recommend, and EASE-like teachers score them high, so keeping them would spend most
    of the target on items that never get ranked.

    student_scores, teacher_scores: float ``[b, n_items]`` (the teacher is detached).
    exclude: optional bool ``[b, n_items]``, True for the user's training items.
    ``T`` must match the teacher's score scale (EASE scores lie mostly in [0, 0.6]: T ≈ 0.05).
    """
    return kd_loss(student_scores, teacher_scores, temperature, mask=exclude)


def pointwise_kd_loss(student_scores, teacher_scores, temperature, exclude=None, reduction="mean"):
    """Pointwise soft labels: each (user, item) is a yes/no question answered by the teacher.

    Target ``p = sigmoid(teacher / T)``, prediction ``q = sigmoid(student / T)``; the loss is the
    Bernoulli KL ``p log(p/q) + (1−p) log((1−p)/(1−q))``, i.e. the binary cross-entropy against the
    teacher's probability minus the teacher's own entropy. The two have the same gradient; we subtract
    the constant so that, like :func:`kd_loss`, the loss is 0 exactly when the student matches the
    teacher. Multiplied by ``T²`` for the same reason as in :func:`kd_loss` (for large ``T`` the
    gradient ``(q − p)/T ≈ (s − t)/(4T²)``), and averaged over the (user, item) pairs that are not
    excluded.

    The KL is minimised at ``s = t``: pointwise KD regresses the student's scores onto the teacher's.

    student_scores, teacher_scores: float ``[b, n_items]`` (the teacher is detached).
    exclude: optional bool ``[b, n_items]``, True = not a (user, item) pair to distil.
    reduction: ``"mean"`` (a scalar) or ``"none"`` (the term of every pair, ``[b, n_items]``, 0 where excluded).
    """
    temperature = _check_positive("temperature", temperature)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    teacher_scores = _check_pair(student_scores, teacher_scores)
    exclude = _check_mask("exclude", exclude, student_scores)
    teacher = teacher_scores / temperature
    target = torch.sigmoid(teacher)
    cross_entropy = F.binary_cross_entropy_with_logits(student_scores / temperature, target, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher, target, reduction="none")
    per_pair = (cross_entropy - entropy) * temperature ** 2
    if reduction == "none":
        return per_pair if exclude is None else per_pair.masked_fill(exclude, 0.0)
    if exclude is None:
        return per_pair.mean()
    keep = ~exclude
    return per_pair[keep].sum() / keep.sum()


def teacher_top_k(teacher_scores, k, exclude=None):
    """The teacher's ``k`` best items per user that are not excluded: long ``[b, k]``, best first.

    teacher_scores: float ``[b, n_items]``; exclude: optional bool ``[b, n_items]`` (the user's seen
    items), never returned. Ties go to the lower item index, as in :mod:`tinyrec.metrics`.
    """
    k = positive_int("k", k)
    if not isinstance(teacher_scores, torch.Tensor) or not teacher_scores.is_floating_point() \
            or teacher_scores.dim() != 2:
        raise ValueError("teacher_scores must be a 2-D floating tensor [b, n_items]")
    if torch.isnan(teacher_scores).any():
        raise ValueError("teacher_scores contain NaN; expected real scores")
    exclude = _check_mask("exclude", exclude, teacher_scores)
    fewest = teacher_scores.shape[1] - (int(exclude.sum(dim=1).max()) if exclude is not None else 0)
    if fewest < k:
        raise ValueError(f"k={k}, but some user has only {fewest} items that are not excluded")
    key = teacher_scores.detach().clamp(min=torch.finfo(teacher_scores.dtype).min)  # real -inf beats excluded
    if exclude is not None:
        key = key.masked_fill(exclude, float("-inf"))
    return key.sort(dim=1, descending=True, stable=True).indices[:, :k]


def rank_weights(k, lam):
    """Position importance of Ranking Distillation: ``w_r ∝ exp(−r/λ)`` for ranks ``r = 1..k``.

    Returns float ``[k]``, decreasing, summing to 1. Small ``λ`` puts almost all weight on the
    teacher's first items; large ``λ`` approaches uniform weights ``1/k``.
    """
    k = positive_int("k", k)
    lam = _check_positive("lam", lam)
    ranks = torch.arange(1, k + 1, dtype=torch.float64)
    return torch.softmax(-ranks / lam, dim=0).float()  # exp(-r/λ) / Σ exp(-r/λ), without overflow


def ranking_distillation_loss(student_scores, teacher_topk_items, weights, negative_items=None):
    """Ranking Distillation (Tang & Wang, KDD 2018): learn the teacher's top-K as weighted positives.

    For user ``u`` with the teacher's top-K unseen items ``π_1..π_K``, the loss is
    ``−Σ_r w_r log σ(s_{u,π_r})``, averaged over users: the student is pushed to score each of those
    items high, the teacher's first items most. It is meant to be added (with a weight) to the
    student's usual loss on its true positives and sampled negatives.

    student_scores: float ``[b, n_items]``; teacher_topk_items: long ``[b, K]`` (see
    :func:`teacher_top_k`); weights: float ``[K]`` (see :func:`rank_weights`) or ``[b, K]``, non-negative.

    Simplification: the paper multiplies the position weight by a *ranking discrepancy* weight
    ``tanh(μ · (student's estimated rank − r))⁺`` after a few epochs, which focuses on items the student
    still ranks too low; we keep only the position weight (their "weighting by position importance"
    variant). A per-user ``[b, K]`` weight lets a caller supply the hybrid weight.

    ``negative_items`` (long ``[b]`` or ``[b, K]``) adapts RD to a pairwise student such as BPR-MF:
    the term becomes ``−Σ_r w_r log σ(s_{u,π_r} − s_{u,j})`` with sampled negatives ``j``. Without
    negatives, a BPR student can lower the loss by inflating every score, which changes nothing it is
    evaluated on; the paper's students had pointwise losses whose negatives prevented that.
    """
    if not isinstance(student_scores, torch.Tensor) or not student_scores.is_floating_point() \
            or student_scores.dim() != 2:
        raise ValueError("student_scores must be a 2-D floating tensor [b, n_items]")
    items = torch.as_tensor(teacher_topk_items, device=student_scores.device)
    if items.dtype != torch.long or items.dim() != 2 or items.shape[0] != student_scores.shape[0]:
        raise ValueError(f"teacher_topk_items must be a long tensor [b={student_scores.shape[0]}, K], "
                         f"got {items.dtype} of shape {tuple(items.shape)}")
    if items.numel() and (items.min() < 0 or items.max() >= student_scores.shape[1]):
        raise ValueError(f"teacher_topk_items must be item indices in [0, {student_scores.shape[1]}), got "
                         f"values from {int(items.min())} to {int(items.max())}")
    weights = torch.as_tensor(weights, dtype=student_scores.dtype, device=student_scores.device).detach()
    if weights.shape not in (items.shape[1:], items.shape):
        raise ValueError(f"weights must have shape [K={items.shape[1]}] or {tuple(items.shape)}, "
                         f"got {tuple(weights.shape)}")
    if (weights < 0).any():
        raise ValueError("weights must be non-negative")
    margin = student_scores.gather(1, items)
    if negative_items is not None:
        negatives = torch.as_tensor(negative_items, device=student_scores.device).reshape(len(items), -1)
        margin = margin - student_scores.gather(1, negatives)
    return -(weights * F.logsigmoid(margin)).sum(dim=1).mean()


METHODS = ("listwise", "pointwise", "ranking")


def student_objective(method, teacher_scores, seen, temperature=0.05, top_k=10, lam=5.0,
                      users_per_step=128, generator=None):
    """The distillation term of a student's training step, as ``extra_loss(model, users) -> scalar``.

    ``method``: ``"listwise"`` (:func:`listwise_kd_loss`), ``"pointwise"`` (:func:`pointwise_kd_loss`)
    or ``"ranking"`` (:func:`ranking_distillation_loss` over the teacher's ``top_k`` unseen items, with
    one uniformly sampled unseen negative per user). teacher_scores: float ``[n_users, n_items]``,
    computed once; seen: bool ``[n_users, n_items]``, the training items, left out of every term.
    Each step uses at most ``users_per_step`` of the batch's users (drawn with ``generator``): the
    catalogue-wide terms cost ``users × n_items``, and a sample of users estimates the same mean.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    teacher_scores = teacher_scores.detach()
    top = teacher_top_k(teacher_scores, top_k, exclude=seen) if method == "ranking" else None
    weights = rank_weights(top_k, lam) if method == "ranking" else None

    def extra_loss(model, users):
        if len(users) > users_per_step:
            users = users[torch.randperm(len(users), generator=generator, device=users.device)[:users_per_step]]
        scores, mask = model(users), seen[users]
        if method == "listwise":
            return listwise_kd_loss(scores, teacher_scores[users], temperature, exclude=mask)
        if method == "pointwise":
            return pointwise_kd_loss(scores, teacher_scores[users], temperature, exclude=mask)
        negatives = torch.multinomial((~mask).float(), 1, generator=generator).squeeze(1)
        return ranking_distillation_loss(scores, top[users], weights, negative_items=negatives)

    return extra_loss


def target_entropy(teacher_scores, temperature, exclude=None):
    """Mean entropy (nats) over rows of the listwise soft target ``softmax(teacher / T)`` over the items
    that are not excluded: how spread the teacher's distribution is. ``exp`` of it is the number of items
    a uniform target with the same entropy would cover.

    teacher_scores: float ``[b, n_items]``; exclude: optional bool ``[b, n_items]``. Returns a float.
    """
    temperature = _check_positive("temperature", temperature)
    if not isinstance(teacher_scores, torch.Tensor) or not teacher_scores.is_floating_point() \
            or teacher_scores.dim() != 2:
        got = (f"{teacher_scores.dtype} tensor of shape {tuple(teacher_scores.shape)}"
               if isinstance(teacher_scores, torch.Tensor) else type(teacher_scores).__name__)
        raise ValueError(f"teacher_scores must be a 2-D floating tensor [b, n_items], got {got}")
    exclude = _check_mask("exclude", exclude, teacher_scores)
    logits = teacher_scores.detach().double() / temperature
    if exclude is not None:
        logits = logits.masked_fill(exclude, float("-inf"))
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p.nan_to_num(neginf=0.0)).sum(dim=1).mean().item()


def matched_temperature(teacher_scores, entropy, exclude=None, low=1e-4, high=1e4, steps=40):
    """The temperature at which ``teacher_scores``' listwise target has mean entropy ``entropy`` (nats).

    Teachers score on different scales (EASE mostly in [0, 0.6], a BPR-MF's dot products over several
    units), so a temperature chosen for one teacher means nothing for another; matching the target's
    entropy carries the choice over: both soft targets are then equally peaked. Entropy grows with ``T``,
    so a bisection on ``log T`` in ``[low, high]`` finds it. teacher_scores: float ``[b, n_items]``;
    exclude: optional bool ``[b, n_items]``. Returns a float.
    """
    low, high = _check_positive("low", low), _check_positive("high", high)
    reachable = (target_entropy(teacher_scores, low, exclude), target_entropy(teacher_scores, high, exclude))
    if not reachable[0] <= entropy <= reachable[1]:
        raise ValueError(f"entropy must lie between {reachable[0]:.3f} and {reachable[1]:.3f} nats for these "
                         f"scores (temperatures {low:g} to {high:g}), got {entropy!r}")
    for _ in range(positive_int("steps", steps)):
        middle = math.sqrt(low * high)
        if target_entropy(teacher_scores, middle, exclude) < entropy:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def assistant_dim(teacher_params, student_params, params_per_dim):
    """The embedding size of a teacher assistant (Mirzadeh et al., AAAI 2020) that halves the gap evenly.

    The assistant sits between teacher and student so that the two steps have equal size ratios,
    ``teacher / assistant = assistant / student``: its parameter count is the geometric midpoint
    ``sqrt(teacher_params * student_params)``. For a model of ``params_per_dim`` parameters per dimension
    (BPR-MF: ``n_users + n_items``) the dimension returned is the integer whose larger ratio
    ``max(teacher / assistant, assistant / student)`` is smallest. Returns an int.
    """
    teacher_params, student_params = positive_int("teacher_params", teacher_params), positive_int(
        "student_params", student_params)
    params_per_dim = positive_int("params_per_dim", params_per_dim)
    if teacher_params <= student_params:
        raise ValueError(f"teacher_params must exceed student_params, got {teacher_params} and {student_params}")
    middle = math.sqrt(teacher_params * student_params) / params_per_dim
    candidates = sorted({max(1, math.floor(middle)), max(1, math.ceil(middle))})
    return min(candidates, key=lambda d: max(teacher_params / (d * params_per_dim),
                                             d * params_per_dim / student_params))
