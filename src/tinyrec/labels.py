"""The teacher's top-K soft labels, computed once and stored compactly, and a listwise KD term read from them.

Distilling from dense teacher scores keeps an ``[n_users, n_items]`` float32 matrix in memory for the whole
training run (or scores the teacher at every step). Most of a peaked listwise target sits on a few items,
so the book stores, per user, only the teacher's ``K`` best items that the user has not seen in training:

* item ids in the smallest integer type that holds every id (:func:`id_dtype`: ``int16`` for 1,682 items);
* scores in float16 (the listwise target at ``T = 0.05`` is ``softmax(score / T)``: fp16's 3 decimal
  digits change it little, and the student test below measures whether it matters);
* in a deterministic order: score (as float32) from best to worst, ties by the lower item id.

Training items are excluded (never labelled): the listwise KD loss leaves them out of both softmaxes.
Validation and test items are *not* excluded: the teacher was fitted on the training part only, so it
knows nothing about them, and the dense listwise term labels them too.

:func:`topk_listwise_loss` is the listwise KD loss with the target truncated to the stored ``K`` items
(renormalised), against the student's softmax over all of the user's unseen items; with ``K`` covering
every unseen item it is exactly :func:`tinyrec.distill.listwise_kd_loss`.
"""

import dataclasses

import torch
import torch.nn.functional as F

from tinyrec.config import positive_int

__all__ = ["id_dtype", "TopKLabels", "top_k_labels", "label_teacher", "topk_listwise_loss", "topk_objective"]

ID_DTYPES = (torch.uint8, torch.int16, torch.int32, torch.int64)  # smallest first


def id_dtype(n_items):
    """The smallest torch integer dtype that holds item ids ``0 .. n_items - 1``.

    ``uint8`` up to 256 items, ``int16`` up to 32,768, ``int32`` up to 2^31, else ``int64``. (torch's
    ``uint16``/``uint32`` would hold twice as many, but most torch operations do not support them.)
    """
    n_items = positive_int("n_items", n_items)
    for dtype in ID_DTYPES:
        info = torch.iinfo(dtype)
        if n_items - 1 <= info.max:
            return dtype
    raise ValueError(f"n_items={n_items} does not fit in int64")


@dataclasses.dataclass(frozen=True)
class TopKLabels:
    """Per user, the teacher's ``k`` best unseen items: ``items`` ``[n_users, k]`` in :func:`id_dtype`
    ``(n_items)``, ``scores`` float16 ``[n_users, k]``, both best first."""

    items: torch.Tensor
    scores: torch.Tensor
    n_items: int

    @property
    def k(self):
        return self.items.shape[1]

    @property
    def nbytes(self):
        """Bytes of the two tensors (what is stored and shipped to the training workers)."""
        return self.items.nbytes + self.scores.nbytes

    def state(self):
        """The labels as a dict of tensors and an int (for ``torch.save`` / ``torch.load(weights_only=True)``)."""
        return {"items": self.items, "scores": self.scores, "n_items": self.n_items}


def top_k_labels(teacher_scores, k, exclude=None):
    """The compact top-``k`` labels of ``teacher_scores`` (float ``[n_users, n_items]``, any dtype).

    ``exclude`` (bool ``[n_users, n_items]``, the training items) are never labelled. Order: score from
    best to worst, ties by the lower item id (a stable sort of the item-ordered row), so the same scores
    always give the same labels. ``k`` larger than some user's number of unexcluded items is a
    ``ValueError``. Returns :class:`TopKLabels`.
    """
    k = positive_int("k", k)
    if not isinstance(teacher_scores, torch.Tensor) or not teacher_scores.is_floating_point() \
            or teacher_scores.dim() != 2:
        raise ValueError("teacher_scores must be a 2-D floating tensor [n_users, n_items]")
    if torch.isnan(teacher_scores).any():
        raise ValueError("teacher_scores contain NaN; expected real scores")
    n_items = teacher_scores.shape[1]
    key = teacher_scores.detach().float()
    if exclude is not None:
        if not isinstance(exclude, torch.Tensor) or exclude.dtype != torch.bool or exclude.shape != key.shape:
            raise ValueError(f"exclude must be a bool tensor of shape {tuple(key.shape)}, got {exclude!r}")
        fewest = n_items - int(exclude.sum(dim=1).max()) if len(exclude) else n_items
        if fewest < k:
            raise ValueError(f"k={k}, but some user has only {fewest} items that are not excluded")
        key = key.clamp(min=torch.finfo(key.dtype).min).masked_fill(exclude, float("-inf"))
    elif k > n_items:
        raise ValueError(f"k={k} is larger than the catalogue ({n_items} items)")
    order = key.sort(dim=1, descending=True, stable=True).indices[:, :k]
    scores = teacher_scores.detach().gather(1, order)
    return TopKLabels(order.to(id_dtype(n_items)), scores.to(torch.float16), n_items)


@torch.no_grad()
def label_teacher(teacher, history, k, users=None, chunk=128):
    """Score ``users`` with ``teacher`` and keep their top-``k`` labels, ``chunk`` users at a time.

    teacher: a model of :mod:`tinyrec.models` (``teacher(users, history) -> [b, n_items]``); history: bool
    ``[n_users, n_items]``, the training items (the teacher's input, and never labelled); users: long
    ``[b]`` (default: all, in order). Working in fixed chunks of users keeps memory at ``chunk × n_items``
    and makes every row's arithmetic the same whichever process computes it, which is what lets a sharded
    run (:mod:`tinyrec.parallel`) reproduce this one exactly when shards are whole chunks.
    Returns :class:`TopKLabels` for ``users``.
    """
    chunk = positive_int("chunk", chunk)
    users = torch.arange(history.shape[0]) if users is None else torch.as_tensor(users)
    teacher.eval()
    parts = []
    for start in range(0, len(users), chunk):
        batch = users[start:start + chunk]
        seen = history[batch]
        parts.append(top_k_labels(teacher(batch, seen.float()), k, exclude=seen))
    if not parts:
        raise ValueError("users must name at least one user")
    return TopKLabels(torch.cat([p.items for p in parts]), torch.cat([p.scores for p in parts]), history.shape[1])


def topk_listwise_loss(student_scores, items, scores, temperature, exclude=None):
    """Listwise KD with the teacher's target truncated to its top-K items.

    The target is ``softmax(scores / T)`` over the ``K`` stored items (renormalised: the teacher's mass
    outside them is dropped); the student's distribution is its softmax over all of the user's items not
    in ``exclude``. The loss is ``T² · KL(target ‖ student)`` averaged over rows, as in
    :func:`tinyrec.distill.kd_loss`.

    student_scores: float ``[b, n_items]``; items: integer ``[b, K]``; scores: float ``[b, K]`` (any
    float dtype, computed in the student's); exclude: optional bool ``[b, n_items]`` (training items,
    never among ``items``). Returns a scalar.
    """
    if not isinstance(student_scores, torch.Tensor) or not student_scores.is_floating_point() \
            or student_scores.dim() != 2:
        raise ValueError("student_scores must be a 2-D floating tensor [b, n_items]")
    if items.shape != scores.shape or items.dim() != 2 or items.shape[0] != student_scores.shape[0]:
        raise ValueError(f"items and scores must both be [b={student_scores.shape[0]}, K], got "
                         f"{tuple(items.shape)} and {tuple(scores.shape)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    student = student_scores / temperature
    if exclude is not None:
        student = student.masked_fill(exclude, float("-inf"))
    index = items.long()
    log_q = F.log_softmax(student, dim=1).gather(1, index)
    log_p = F.log_softmax(scores.to(student_scores.dtype).detach() / temperature, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean() * temperature ** 2


def topk_objective(labels, seen, temperature, users_per_step=128, generator=None):
    """The distillation term of a student's step from stored labels, as ``extra_loss(model, users)`` for
    :func:`tinyrec.train.train_bpr` — the top-K counterpart of
    :func:`tinyrec.distill.student_objective` ``("listwise", ...)``, with the same user subsampling.

    labels: :class:`TopKLabels` for all users; seen: bool ``[n_users, n_items]``, the training items.
    """
    users_per_step = positive_int("users_per_step", users_per_step)
    if labels.items.shape[0] != seen.shape[0] or labels.n_items != seen.shape[1]:
        raise ValueError(f"labels are for {labels.items.shape[0]} users × {labels.n_items} items, "
                         f"seen is {tuple(seen.shape)}")
    items, scores = labels.items.long().to(seen.device), labels.scores.to(seen.device)

    def extra_loss(model, users):
        if len(users) > users_per_step:
            users = users[torch.randperm(len(users), generator=generator, device=users.device)[:users_per_step]]
        return topk_listwise_loss(model(users), items[users], scores[users], temperature, exclude=seen[users])

    return extra_loss
