"""Exercise 1.3 (``01_exercise_ranking_distillation``): Ranking Distillation's weights and loss.

:func:`check_ranking_distillation` compares the position weights ``w_r ∝ exp(−r/λ)`` with
:func:`tinyrec.distill.rank_weights` and the loss ``−Σ_r w_r log σ(s_{u,π_r})`` with
:func:`tinyrec.distill.ranking_distillation_loss` over :func:`tinyrec.distill.teacher_top_k`.
"""

import torch

from tinyrec import distill
from tinyrec.exercises._core import case_error, correct, fn_name, not_a_tensor, same, short, which_mistake

__all__ = ["check_ranking_distillation"]


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
