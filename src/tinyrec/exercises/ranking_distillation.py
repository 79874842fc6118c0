"""Exercise 1.3 (``01_exercise_ranking_distillation``): Ranking Distillation's weights and loss.

:func:`check_ranking_distillation` compares the position weights ``w_r ∝ exp(−r/λ)`` with
:func:`tinyrec.distill.rank_weights` and the loss ``−Σ_r w_r log σ(s_{u,π_r})`` with
:func:`tinyrec.distill.ranking_distillation_loss` over :func:`tinyrec.distill.teacher_top_k`.

:func:`check_dynamic_weights` checks the paper's ranking-discrepancy weight
``tanh(max(μ·(r̂_r − r), 0))`` — ``r̂_r`` the student's rank of the teacher's ``r``-th item among the items
not excluded (exact, over the whole catalogue) — and the hybrid weight, position × discrepancy, normalised
per user (0 for a user whose weights are all 0). :mod:`tinyrec.distill` implements only the position
weight (its students are cached: adding code to it would retrain them all), so the reference is
:func:`rd_dynamic_weights` and :func:`rd_hybrid_weights` below, written from Tang & Wang (KDD 2018), Eq. (9),
and the authors' code (github.com/graytowne/rank_distill, ``distill_caser.py``), and unit-tested on
hand-computed cases.
"""

import torch

from tinyrec import distill
from tinyrec.exercises._core import case_error, correct, fn_name, not_a_tensor, same, short, which_mistake

__all__ = ["check_ranking_distillation", "check_dynamic_weights", "rd_dynamic_weights", "rd_hybrid_weights"]


def _exp_weights(k, lam, first=1):
    """``exp(−r/λ)`` for ``r = first .. first + k − 1``, not normalised."""
    return torch.exp(-torch.arange(first, first + k, dtype=torch.float32) / lam)


WEIGHT_MISTAKES = [  # (what fn(k, lam) returns with this mistake, the diagnosis)
    (lambda k, lam: _exp_weights(k, lam),
     "Not normalised: exp(−r/λ) is proportional to the weight. Divide by Σ_{r=1..K} exp(−r/λ), so that "
     "the weights sum to 1 and λ changes their shape, not the size of the loss."),
    (lambda k, lam: _exp_weights(k, lam, first=0),
     "Not normalised, and ranks counted from 0. The book counts ranks r = 1..K (the teacher's best item "
     "has r = 1, so it gets exp(−1/λ), not exp(0) = 1), e.g. torch.arange(1, k + 1). Once the weights are "
     "normalised the convention cancels out (the common factor exp(−1/λ) divides away), so normalise them."),
    (lambda k, lam: distill.rank_weights(k, lam).flip(0),
     "The weights increase with the rank: w_r ∝ exp(−r/λ), with a minus sign, so the teacher's first item "
     "weighs most."),
    (lambda k, lam: distill.rank_weights(k, 1 / lam),
     "exp(−r·λ) instead of exp(−r/λ): λ is a length in ranks (a larger λ gives flatter weights); divide by it."),
    (lambda k, lam: torch.full((k,), 1 / k),
     "Uniform weights 1/K: Ranking Distillation weighs the teacher's top items most, w_r ∝ exp(−r/λ)."),
]
# (name, k, lam, hint)
WEIGHT_CASES = [
    ("K = 5, λ = 2", 5, 2.0, "w = exp(−[1, 2, 3, 4, 5] / 2) / Σ exp(−r / 2) = [0.43, 0.26, 0.16, 0.10, 0.06]."),
    ("K = 10, λ = 5", 10, 5.0, "Ranks r = 1..10; the weights decrease and sum to 1."),
    ("K = 3, λ = 0.5", 3, 0.5, "A small λ puts almost all the weight on the teacher's best item."),
]


def _rd_reference(s, t, k, lam, weights=None, top_of=None):
    """``tinyrec.distill.ranking_distillation_loss`` over the top-K of ``top_of`` (the teacher by default)."""
    items = distill.teacher_top_k(t if top_of is None else top_of, k)
    return distill.ranking_distillation_loss(s, items, distill.rank_weights(k, lam) if weights is None
                                             else weights)


RD_MISTAKES = [  # (what fn(student_scores, teacher_scores, k, lam) returns with this mistake, the diagnosis)
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, top_of=s),
     "It used the *student's* top-K items. Ranking Distillation hands over the *teacher's* top-K: "
     "π = torch.topk(teacher_scores, k).indices, and the student's scores at those items."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam) * len(s),
     "Summed over users instead of averaged: the loss must not grow with the number of users; .mean() over "
     "users after summing over the K ranks."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam) / k,
     "Averaged over the K ranks as well as the users: the ranks are *summed*, −Σ_r w_r log σ(s_{u,π_r}) "
     "(the weights already sum to 1), then averaged over users."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=_exp_weights(k, lam)),
     "The position weights are not normalised: w_r = exp(−r/λ) / Σ_{r'=1..K} exp(−r'/λ)."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=distill.rank_weights(k, lam).flip(0)),
     "The weights went to the teacher's items in reverse order: π must be the teacher's top-K *best first* "
     "(torch.topk(..., k) or argsort(descending=True)), so that w_1, the largest weight, goes to its best item."),
    (lambda s, t, k, lam: _rd_reference(s, t, k, lam, weights=torch.ones(k)),
     "No position weights: each of the teacher's top-K items must be weighted by w_r."),
    (lambda s, t, k, lam: -_rd_reference(s, t, k, lam),
     "The sign is wrong: the loss is −Σ_r w_r log σ(s): log σ ≤ 0, so the loss is ≥ 0 and falls as the "
     "student scores the teacher's items higher."),
    (lambda s, t, k, lam: -(distill.rank_weights(k, lam) * torch.sigmoid(s.gather(1, distill.teacher_top_k(t, k))))
     .sum(dim=1).mean(),
     "σ(s) without the log: the loss is −Σ_r w_r log σ(s_{u,π_r}) (use F.logsigmoid)."),
]
LOG_SIGMOID = ("log(sigmoid(x)) for a very negative score: sigmoid(−1000) underflows to 0 and log(0) = −inf. "
               "Use F.logsigmoid(x), which computes log σ(x) = −softplus(−x) without forming σ(x): "
               "log σ(−1000) = −1000.")
_generator = torch.Generator().manual_seed(1)
_FAR_OFF = torch.tensor([[-1000.0, 0.5, 0.2, 0.1, 2.0, 0.0], [1.0, 2.0, -3.0, 0.0, 0.4, 0.3]])
# (name, student scores, teacher scores, k, lam, hint)
RD_CASES = [
    ("2 users, 8 items, K = 3, λ = 2", torch.randn(2, 8, generator=_generator),
     torch.randn(2, 8, generator=_generator), 3, 2.0,
     "For each user: π = the teacher's 3 best items, best first; loss = −Σ_r w_r log σ(s_{u,π_r}); "
     "then the mean over the 2 users."),
    ("the student ranks the teacher's favourites last, K = 2, λ = 1",
     torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]), torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]]), 2, 1.0,
     "The teacher's top 2 are items 0 and 1, which the student scores 0 and 1: loss = −w_1 log σ(0) − "
     "w_2 log σ(1)."),
    ("a student far off: score −1000 on the teacher's best item, K = 3, λ = 2", _FAR_OFF,
     torch.tensor([[3.0, 2.0, 1.0, 0.0, -1.0, -2.0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]), 3, 2.0,
     "log σ(−1000) = −1000: the loss is large but finite."),
    ("EASE-scale teacher, 4 users, 40 items, K = 10, λ = 5", torch.randn(4, 40, generator=_generator),
     0.6 * torch.rand(4, 40, generator=_generator), 10, 5.0,
     "The same formula with K = 10 ranks."),
]


def check_ranking_distillation(position_weights, rd_loss):
    """Check ``position_weights(k, lam) -> [k]`` against ``tinyrec.distill.rank_weights``, then
    ``rd_loss(student_scores, teacher_scores, k, lam) -> scalar`` against
    ``tinyrec.distill.ranking_distillation_loss`` over ``tinyrec.distill.teacher_top_k``."""
    for name, k, lam, hint in WEIGHT_CASES:
        expected = distill.rank_weights(k, lam)
        result = position_weights(k, lam)
        problem = not_a_tensor(result, (k,))
        if problem and isinstance(result, torch.Tensor) and result.dim() == 1:
            problem += (f" There are K = {k} ranks, r = 1..K, one weight each: torch.arange(1, k + 1) "
                        "(torch.arange(k) gives 0..K−1, torch.arange(k + 1) gives K + 1 ranks).")
        if not problem and not same(result, expected):
            problem = (which_mistake(result, WEIGHT_MISTAKES, k, lam)
                       or f"expected {short(expected)}, got {short(result)}.")
        if problem:
            raise case_error(name, f"{fn_name(position_weights)}(k={k}, lam={lam})", problem, hint)
    for name, s, t, k, lam, hint in RD_CASES:
        expected = _rd_reference(s, t, k, lam)
        result = rd_loss(s.clone(), t.clone(), k, lam)
        problem = not_a_tensor(result, ())
        if not problem and not torch.isfinite(result):
            problem = f"it returned {result.item()}. {LOG_SIGMOID}"
        if not problem and not same(result, expected):
            problem = (which_mistake(result, RD_MISTAKES, s, t, k, lam)
                       or f"expected {expected.item():.6f}, got {result.item():.6f}.")
        if problem:
            call = (f"{fn_name(rd_loss)}(student_scores={short(s)}, teacher_scores={short(t)}, k={k}, "
                    f"lam={lam})")
            raise case_error(name, call, problem, hint)
    correct(f"{fn_name(position_weights)} and {fn_name(rd_loss)}",
            "tinyrec.distill.rank_weights and ranking_distillation_loss",
            [case[0] for case in WEIGHT_CASES + RD_CASES])


# ----------------------------------------------------------------------------------------------------------
# The ranking-discrepancy weight and the hybrid weight (Question 3)


def student_ranks(student_scores, items, exclude=None, strictly="higher"):
    """The student's rank (1 = best) of each of ``items`` (long ``[b, K]``) among the items not excluded:
    1 + the number of them it scores strictly higher (``strictly="lower"`` counts from the bottom instead).
    student_scores: float ``[b, n]``; exclude: optional bool ``[b, n]``. Returns long ``[b, K]``."""
    key = student_scores.detach()
    own = key.gather(1, items)
    if strictly == "lower":
        key, own = -key, -own
    if exclude is not None:
        key = key.masked_fill(exclude, float("-inf"))
    return 1 + (key[:, None, :] > own[:, :, None]).sum(dim=2)


def rd_dynamic_weights(student_scores, teacher_items, mu, exclude=None):
    """Ranking Distillation's ranking-discrepancy weight (Tang & Wang, KDD 2018, Eq. 9): for the teacher's
    ``r``-th item (``r = 1..K``), ``tanh(max(μ·(r̂ − r), 0))``, with ``r̂`` the student's rank of that item
    among the items not excluded, computed exactly over the catalogue (the paper estimates it from ``ϵ``
    sampled items). 0 when the student ranks the item at least as high as the teacher does, close to 1 when
    it ranks it far lower.

    student_scores: float ``[b, n]``; teacher_items: long ``[b, K]``, best first (e.g.
    :func:`tinyrec.distill.teacher_top_k`); mu > 0; exclude: optional bool ``[b, n]``, the seen items.
    Returns float ``[b, K]`` (no gradient).
    """
    ranks = torch.arange(1, teacher_items.shape[1] + 1, device=teacher_items.device)
    gap = (student_ranks(student_scores, teacher_items, exclude) - ranks).to(student_scores.dtype)
    return torch.tanh((mu * gap).clamp(min=0))


def _normalised(weights):
    """Each row divided by its sum; a row that sums to 0 stays 0."""
    total = weights.sum(dim=1, keepdim=True)
    return torch.where(total > 0, weights / torch.where(total > 0, total, torch.ones_like(total)), 0.0)


def rd_hybrid_weights(student_scores, teacher_items, lam, mu, exclude=None):
    """The hybrid weight: position weight (:func:`tinyrec.distill.rank_weights`) × ranking-discrepancy weight
    (:func:`rd_dynamic_weights`), normalised to sum to 1 per user; all 0 for a user whose discrepancy weights
    are all 0. (The authors' code has the normalisation as an option, off by default.) Float ``[b, K]``."""
    position = distill.rank_weights(teacher_items.shape[1], lam).to(student_scores.dtype)
    return _normalised(position * rd_dynamic_weights(student_scores, teacher_items, mu, exclude))


def _dynamic_variant(s, items, mu, exclude, ranks=None, floor=True, tanh=True, sign=1, strictly="higher", first=1):
    """:func:`rd_dynamic_weights` with one part changed, to recognise a mistake."""
    r_hat = student_ranks(s, items, exclude, strictly) if ranks is None else ranks(s, items, exclude)
    gap = sign * (r_hat - first - torch.arange(items.shape[1])).to(s.dtype)
    value = mu * gap
    value = value.clamp(min=0) if floor else value
    return torch.tanh(value) if tanh else value


def _rank_within_top(s, items, exclude):
    """The student's rank of each item among the K items only."""
    own = s.gather(1, items)
    return 1 + (own[:, None, :] > own[:, :, None]).sum(dim=2)


DYNAMIC_MISTAKES = [  # (what dynamic_weights(s, items, mu, exclude) returns with this mistake, the diagnosis)
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, None),
     "The seen items were counted in the student's rank: r̂ must count only the items not excluded — the "
     "student's rank of the item in the list it would recommend, where seen items never appear."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, first=2),
     "Off by one: r̂ counted from 0 (the number of items scored higher) while r counts from 1. Count both the "
     "same way: r̂ = 1 + the number of unseen items the student scores strictly higher, r = 1..K."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, first=0),
     "Off by one: r counted from 0 (the position in teacher_items) while r̂ counts from 1. Count both the same "
     "way, e.g. r = torch.arange(1, K + 1)."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, floor=False),
     "Negative weights: without max(·, 0), an item the student ranks *higher* than the teacher gets "
     "tanh(negative) < 0, a weight that pushes it down. The paper's weight is tanh(max(μ·(r̂ − r), 0)): 0 for "
     "items the student already ranks high enough."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, sign=-1),
     "The difference is reversed: the weight must grow when the student ranks the item *lower* than the "
     "teacher, r̂ > r, so μ·(r̂ − r), not μ·(r − r̂)."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, strictly="lower"),
     "The student's ranks run the wrong way: rank 1 must be the item it scores *highest* (sort descending, "
     "or count the items scored strictly higher)."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, ranks=_rank_within_top),
     "r̂ ranked the item among the teacher's K items only. It is the student's rank in the whole catalogue "
     "(unseen items): an item the student ranks 500th is far off even if it is 3rd of the K."),
    (lambda s, it, mu, ex: _dynamic_variant(s, it, mu, ex, tanh=False),
     "No tanh: max(μ·(r̂ − r), 0) is unbounded (hundreds for an item ranked far down). tanh caps the weight "
     "at 1: tanh(max(μ·(r̂ − r), 0))."),
    (lambda s, it, mu, ex: mu * _dynamic_variant(s, it, 1.0, ex),
     "μ outside the tanh: μ·tanh(max(r̂ − r, 0)) saturates after one rank and then caps at μ. μ scales the "
     "rank gap inside: tanh(max(μ·(r̂ − r), 0))."),
]


def _position(items, lam, s):
    return distill.rank_weights(items.shape[1], lam).to(s.dtype)


HYBRID_MISTAKES = [  # (what hybrid_weights(s, items, lam, mu, exclude) returns with this mistake, the diagnosis)
    (lambda s, it, lam, mu, ex: _position(it, lam, s) * rd_dynamic_weights(s, it, mu, ex),
     "Not normalised: the product w_pos · w_dyn must be divided by its sum over the user's K items, so that "
     "each user's weights sum to 1 (0 for a user whose discrepancy weights are all 0). (The authors' code "
     "leaves this off by default; this book normalises, so the term keeps the size of the position-only RD.)"),
    (lambda s, it, lam, mu, ex: _normalised(_position(it, lam, s) + rd_dynamic_weights(s, it, mu, ex)),
     "The two weights were added: the hybrid weight is their *product*, so that an item the student already "
     "ranks high enough (discrepancy weight 0) gets weight 0 whatever its position."),
    (lambda s, it, lam, mu, ex: _normalised(rd_dynamic_weights(s, it, mu, ex)),
     "No position weight: the hybrid weight multiplies the discrepancy weight by w_r ∝ exp(−r/λ), so the "
     "teacher's first items still weigh most."),
    (lambda s, it, lam, mu, ex: (lambda w: w / w.sum())(_position(it, lam, s) * rd_dynamic_weights(s, it, mu, ex)),
     "Normalised over the whole batch: each *user's* weights must sum to 1 (sum over dim=1, keepdim=True)."),
    (lambda s, it, lam, mu, ex: (lambda w: w / w.sum(dim=0, keepdim=True))(
        _position(it, lam, s) * rd_dynamic_weights(s, it, mu, ex)),
     "Normalised over the wrong dimension: each user's row must sum to 1, not each rank's column."),
]
ALL_ZERO_ROW = ("it returned NaN: a user whose discrepancy weights are all 0 (the student already ranks every one "
                "of the teacher's items high enough) makes the sum 0, and 0 / 0 = NaN. Such a user has nothing to "
                "learn from the teacher: give them weights 0.")
_S = [[0.9, 0.1, 0.8, 0.7, 0.3, 0.2, 0.0, -0.1, 0.4, 0.5],   # the student's scores, 2 users, 10 items
      [0.2, 0.6, 0.1, 0.0, 0.9, 0.3, 0.8, -0.2, 0.5, 0.4]]
# (name, student scores, teacher's items best first, mu, seen items, lam, hint)
DYNAMIC_CASES = [
    ("the student ranks the teacher's top 3 exactly as the teacher", [[0.9, 0.8, 0.7, 0.1, 0.0, 0.2]],
     [[0, 1, 2]], 0.5, None, 2.0,
     "r̂ = r = 1, 2, 3: every weight is tanh(max(0, 0)) = 0 — nothing left to learn, and the hybrid weight is 0."),
    ("the student has the teacher's top 3 in reverse order", [[0.7, 0.8, 0.9, 0.1, 0.0, 0.2]], [[0, 1, 2]], 0.5,
     None, 2.0,
     "r̂ = 3, 2, 1 for r = 1, 2, 3: only the teacher's first item is ranked too low: tanh(0.5 · 2) = 0.76, 0, 0."),
    ("the student ranks the teacher's top 3 last, 8 items", [[-0.5, 0.0, 0.1, 0.9, 0.8, 0.7, 0.6, 0.5]],
     [[0, 1, 2]], 0.5, None, 2.0,
     "r̂ = 8, 7, 6 for r = 1, 2, 3: tanh(0.5 · 7), tanh(0.5 · 5), tanh(0.5 · 3) = 1.00, 0.99, 0.91, so the "
     "hybrid weight is nearly the position weight. Ranks are in the whole catalogue, not among the 3."),
    ("a seen item the student scores highest, excluded", [[1.5, 0.9, 0.8, 0.7, 0.1, 0.0]], [[3, 1, 2]], 0.5,
     [[True, False, False, False, False, False]], 2.0,
     "Item 0 is seen: it is not ranked. Among items 1..5 the student ranks 3, 1, 2 at 3, 1, 2."),
    ("two users, 2 seen items each, K = 4, μ = 0.1", _S, [[2, 3, 8, 9], [6, 8, 9, 0]], 0.1,
     [[True, False, False, False, False, False, False, False, False, False],
      [False, False, False, False, True, True, False, False, False, False]], 5.0,
     "User 1: without the seen item 0, the student ranks items 2, 3, 8, 9 at 1, 2, 4, 3: weights 0, 0, "
     "tanh(0.1 · 1), 0."),
]


def _call(fn, *args):
    return f"{fn_name(fn)}(" + ", ".join(short(a) if isinstance(a, torch.Tensor) else repr(a) for a in args) + ")"


def check_dynamic_weights(dynamic_weights, hybrid_weights):
    """Check ``dynamic_weights(student_scores, teacher_items, mu, exclude=None) -> [b, K]`` against
    :func:`rd_dynamic_weights` and ``hybrid_weights(student_scores, teacher_items, lam, mu, exclude=None)
    -> [b, K]`` against :func:`rd_hybrid_weights`, on hand-made cases."""
    cases = [(n, torch.tensor(s), torch.tensor(it), mu, None if ex is None else torch.tensor(ex), lam, h)
             for n, s, it, mu, ex, lam, h in DYNAMIC_CASES]
    for name, s, items, mu, exclude, lam, hint in cases:
        expected = rd_dynamic_weights(s, items, mu, exclude)
        result = dynamic_weights(s.clone(), items.clone(), mu, exclude)
        problem = not_a_tensor(result, expected.shape)
        if not problem and not same(result, expected):
            problem = (which_mistake(result, DYNAMIC_MISTAKES, s, items, mu, exclude)
                       or f"expected {short(expected)}, got {short(result)}.")
        if problem:
            raise case_error(name, _call(dynamic_weights, s, items, mu, exclude), problem, hint)
    for name, s, items, mu, exclude, lam, hint in cases:
        expected = rd_hybrid_weights(s, items, lam, mu, exclude)
        result = hybrid_weights(s.clone(), items.clone(), lam, mu, exclude)
        problem = not_a_tensor(result, expected.shape)
        if not problem and torch.isnan(result).any():
            problem = ALL_ZERO_ROW
        if not problem and not same(result, expected):
            problem = (which_mistake(result, HYBRID_MISTAKES, s, items, lam, mu, exclude)
                       or f"expected {short(expected)}, got {short(result)}.")
        if problem:
            raise case_error(name, _call(hybrid_weights, s, items, lam, mu, exclude), problem, hint)
    correct(f"{fn_name(dynamic_weights)} and {fn_name(hybrid_weights)}", "rd_dynamic_weights and rd_hybrid_weights "
            "(Tang & Wang's Eq. 9, exact ranks)", [case[0] for case in cases])
