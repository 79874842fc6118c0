"""tinyrec.distill: the KD losses against PyTorch's KL divergence, plain loops and Hinton's T² argument."""

import math

import pytest
import torch
import torch.nn.functional as F

from tinyrec import distill
from tinyrec.distill import (
    distillation_loss, kd_loss, listwise_kd_loss, pointwise_kd_loss, rank_weights, ranking_distillation_loss,
    student_objective, teacher_top_k,
)


def logits(b=6, n=9, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(b, n, generator=g, dtype=dtype), scale * torch.randn(b, n, generator=g, dtype=dtype)


def torch_reference(s, t, temperature):
    return F.kl_div(F.log_softmax(s / temperature, dim=1), F.softmax(t / temperature, dim=1),
                    reduction="batchmean") * temperature ** 2


# ------------------------------------------------------------------------------------------------- kd_loss

@pytest.mark.parametrize("temperature", [0.05, 0.5, 1.0, 4.0, 20.0])
def test_kd_loss_matches_torch_kl_div(temperature):
    s, t = logits()
    assert kd_loss(s, t, temperature).item() == pytest.approx(torch_reference(s, t, temperature).item(), rel=1e-10)


def test_kd_loss_by_hand_for_two_items():
    # T = 1, teacher logits (0, 0) -> p = (1/2, 1/2); student logits (ln 3, 0) -> q = (3/4, 1/4).
    # KL(p || q) = 1/2 ln(2/3) + 1/2 ln(2) = 1/2 ln(4/3).
    s, t = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)
    assert kd_loss(s, t, 1.0).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-6)
    # T = 2 divides the logits by 2 and multiplies the KL by 4.
    q = torch.softmax(s / 2, dim=1)[0]
    expected = 4 * (0.5 * math.log(0.5 / q[0].item()) + 0.5 * math.log(0.5 / q[1].item()))
    assert kd_loss(s, t, 2.0).item() == pytest.approx(expected, rel=1e-6)


def test_reductions():
    s, t = logits()
    rows = kd_loss(s, t, 2.0, reduction="none")
    assert rows.shape == (6,)
    assert (rows >= 0).all()
    assert kd_loss(s, t, 2.0, reduction="sum").item() == pytest.approx(rows.sum().item())
    assert kd_loss(s, t, 2.0).item() == pytest.approx(rows.mean().item())
    for u in range(6):  # each row is the KD loss of that row alone
        assert rows[u].item() == pytest.approx(kd_loss(s[u:u + 1], t[u:u + 1], 2.0).item())


def test_zero_when_student_equals_teacher():
    s, _ = logits()
    assert kd_loss(s, s.clone(), 3.0).abs().item() < 1e-12
    assert kd_loss(s, s + 5.0, 3.0).abs().item() < 1e-12  # softmax ignores a constant shift per row


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_stable_for_huge_logits(dtype):
    s, t = logits(scale=1e4, dtype=dtype)
    s.requires_grad_(True)
    loss = kd_loss(s, t, 1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(s.grad).all()
    assert loss.item() > 0
    # The same logits shifted down by each row's maximum: no large numbers left, same loss.
    shifted = kd_loss(s.detach() - s.detach().amax(1, keepdim=True), t - t.amax(1, keepdim=True), 1.0)
    assert loss.item() == pytest.approx(shifted.item(), rel=1e-5)
    # A naive softmax-then-log overflows: the point of log_softmax.
    naive = (torch.exp(t) / torch.exp(t).sum(1, keepdim=True))
    assert not torch.isfinite(naive).all()


def test_teacher_gets_no_gradient():
    s, t = logits()
    s.requires_grad_(True)
    t.requires_grad_(True)
    kd_loss(s, t, 2.0).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None


def kd_grad(student, teacher, temperature, t_squared=True):
    """Gradient of the KD loss with respect to the student logits."""
    student = student.clone().requires_grad_(True)
    loss = kd_loss(student, teacher, temperature)
    if not t_squared:
        loss = loss / temperature ** 2
    (grad,) = torch.autograd.grad(loss, student)
    return grad


def zero_mean_logits(n=10, seed=1):
    z, v = logits(b=1, n=n, scale=1.0, seed=seed)
    return z - z.mean(), v - v.mean()


def test_without_t_squared_the_gradient_shrinks_like_one_over_t_squared():
    z, v = zero_mean_logits()
    norms = {T: kd_grad(z, v, T, t_squared=False).norm().item() for T in (2, 4, 8, 16)}
    for low, high in ((2, 4), (4, 8), (8, 16)):
        ratio = norms[low] / norms[high]
        assert ratio == pytest.approx(4.0, rel=0.1), (low, high, ratio)  # doubling T quarters it
    assert norms[8] / norms[16] == pytest.approx(4.0, rel=0.01)


def test_with_t_squared_the_gradient_keeps_its_scale():
    z, v = zero_mean_logits()
    norms = [kd_grad(z, v, T).norm().item() for T in (2, 4, 8, 16)]
    assert max(norms) / min(norms) < 1.1, norms
    # Not a vacuous check: without T² the same norms span a factor of about 64.
    plain = [kd_grad(z, v, T, t_squared=False).norm().item() for T in (2, 4, 8, 16)]
    assert max(plain) / min(plain) > 50


def test_gradient_matches_hintons_high_temperature_approximation():
    # Hinton et al. (2015), eq. 4: for zero-mean logits and large T,
    # d KL(soft) / d z_i ≈ (z_i − v_i) / (N T²); with the T² factor: (z_i − v_i) / N.
    # The relative error of that first-order expansion shrinks like 1/T.
    z, v = zero_mean_logits(n=10)
    approx = (z - v) / z.shape[1]
    errors = []
    for temperature in (4.0, 16.0, 64.0):
        grad = kd_grad(z, v, temperature)
        errors.append(((grad - approx).norm() / approx.norm()).item())
        plain = kd_grad(z, v, temperature, t_squared=False)
        assert torch.allclose(plain * temperature ** 2, grad, rtol=1e-10)
    assert errors[0] < 0.15 and errors[1] < 0.04 and errors[2] < 0.01, errors
    assert errors[0] / errors[1] == pytest.approx(4, rel=0.25) and errors[1] / errors[2] == pytest.approx(4, rel=0.1)
    # The exact gradient is (q − p) / T per row (before the T² factor).
    T = 3.0
    exact = (torch.softmax(z / T, 1) - torch.softmax(v / T, 1)) / T
    assert torch.allclose(kd_grad(z, v, T, t_squared=False), exact, atol=1e-12)


# --------------------------------------------------------------------------------------------------- masks

def random_mask(b=6, n=9, p=0.4, seed=3):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(b, n, generator=g) < p
    mask[:, 0] = False  # every row keeps an item
    return mask


def test_masked_items_get_zero_gradient_and_do_not_change_the_loss():
    s, t = logits()
    mask = random_mask()
    s.requires_grad_(True)
    loss = kd_loss(s, t, 2.0, mask=mask)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(s.grad).all()
    assert (s.grad[mask] == 0).all()
    assert (s.grad[~mask] != 0).all()
    # Any values on masked items, even ±inf, give the same loss.
    s2, t2 = s.detach().clone(), t.clone()
    s2[mask], t2[mask] = 1e6, float("-inf")
    assert kd_loss(s2, t2, 2.0, mask=mask).item() == pytest.approx(loss.item(), rel=1e-12)


def test_mask_equals_dropping_the_columns():
    s, t = logits()
    mask = torch.zeros_like(s, dtype=torch.bool)
    mask[:, [2, 5, 7]] = True
    keep = [i for i in range(s.shape[1]) if i not in (2, 5, 7)]
    assert kd_loss(s, t, 1.5, mask=mask).item() == pytest.approx(kd_loss(s[:, keep], t[:, keep], 1.5).item())


def test_listwise_kd_matches_a_plain_loop():
    s, t = logits(b=4, n=7, scale=0.3)
    exclude = random_mask(b=4, n=7)
    T = 0.05
    total = 0.0
    for u in range(4):
        items = [i for i in range(7) if not exclude[u, i]]
        p = [math.exp(t[u, i].item() / T) for i in items]
        q = [math.exp(s[u, i].item() / T) for i in items]
        p = [x / sum(p) for x in p]
        q = [x / sum(q) for x in q]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q)) * T ** 2
    assert listwise_kd_loss(s, t, T, exclude=exclude).item() == pytest.approx(total / 4, rel=1e-9)
    assert listwise_kd_loss(s, t, T).item() == pytest.approx(kd_loss(s, t, T).item())


# ---------------------------------------------------------------------------------------- other losses

def test_distillation_loss_mixes_soft_and_hard():
    s, t = logits()
    hard = torch.tensor(0.7, dtype=torch.float64)
    soft = kd_loss(s, t, 2.0)
    assert distillation_loss(s, t, hard, 2.0, 0.25).item() == pytest.approx(0.25 * soft.item() + 0.75 * 0.7)
    assert distillation_loss(s, t, hard, 2.0, 1.0).item() == pytest.approx(soft.item())
    assert distillation_loss(s, t, hard, 2.0, 0.0).item() == pytest.approx(0.7)
    mask = random_mask()
    assert distillation_loss(s, t, hard, 2.0, 1.0, mask=mask).item() == \
        pytest.approx(kd_loss(s, t, 2.0, mask=mask).item())


def test_pointwise_kd_is_a_bernoulli_kl_times_t_squared():
    s, t = logits(scale=0.5)
    T = 0.2
    p, q = torch.sigmoid(t / T), torch.sigmoid(s / T)
    kl = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    assert pointwise_kd_loss(s, t, T).item() == pytest.approx((kl.mean() * T ** 2).item(), rel=1e-9)
    assert pointwise_kd_loss(s, s.clone(), T).abs().item() < 1e-12
    # Same gradient as binary cross-entropy against the teacher's probabilities (times T²).
    s1, s2 = s.clone().requires_grad_(True), s.clone().requires_grad_(True)
    pointwise_kd_loss(s1, t, T).backward()
    (F.binary_cross_entropy_with_logits(s2 / T, p) * T ** 2).backward()
    assert torch.allclose(s1.grad, s2.grad)
    # Excluded pairs are left out of the mean and get no gradient.
    exclude = random_mask()
    s3 = s.clone().requires_grad_(True)
    loss = pointwise_kd_loss(s3, t, T, exclude=exclude)
    loss.backward()
    assert loss.item() == pytest.approx((kl[~exclude].mean() * T ** 2).item(), rel=1e-9)
    assert (s3.grad[exclude] == 0).all()
    terms = pointwise_kd_loss(s, t, T, exclude=exclude, reduction="none")  # one term per pair
    assert terms.shape == s.shape and (terms[exclude] == 0).all()
    assert torch.allclose(terms[~exclude], kl[~exclude] * T ** 2)
    with pytest.raises(ValueError, match="reduction"):
        pointwise_kd_loss(s, t, T, reduction="sum")
    # Stable for huge scores.
    big_s, big_t = logits(scale=1e4)
    assert torch.isfinite(pointwise_kd_loss(big_s, big_t, 1.0))


def test_rank_weights_sum_to_one_and_decrease():
    for k, lam in ((1, 1.0), (10, 1.0), (10, 5.0), (50, 0.01), (50, 1e6)):
        w = rank_weights(k, lam)
        assert w.shape == (k,)
        assert w.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert torch.isfinite(w).all()
        assert (w[1:] <= w[:-1]).all()
    w = rank_weights(10, 2.0)
    assert (w[1:] < w[:-1]).all()
    assert (w[1:] / w[:-1]).tolist() == pytest.approx([math.exp(-1 / 2.0)] * 9, rel=1e-5)
    assert rank_weights(4, 1e9).tolist() == pytest.approx([0.25] * 4)


def test_teacher_top_k_never_returns_excluded_items():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(30, 40, generator=g)
    exclude = torch.rand(30, 40, generator=g) < 0.5
    exclude[:, :10] = False
    scores[exclude] += 10.0  # the excluded items are the teacher's favourites: they must still be skipped
    top = teacher_top_k(scores, 10, exclude=exclude)
    assert top.shape == (30, 10) and top.dtype == torch.long
    assert not exclude.gather(1, top).any()
    for u in range(30):  # the same as sorting the allowed items by score
        allowed = [i for i in range(40) if not exclude[u, i]]
        assert top[u].tolist() == sorted(allowed, key=lambda i: -scores[u, i].item())[:10]
    # Ties go to the lower index; a real -inf score still beats an excluded item.
    tied = torch.tensor([[1.0, 2.0, 2.0, float("-inf"), 5.0]])
    assert teacher_top_k(tied, 4, exclude=torch.tensor([[False, False, False, False, True]])).tolist() == \
        [[1, 2, 0, 3]]
    with pytest.raises(ValueError, match="only 1 items"):
        teacher_top_k(tied, 2, exclude=torch.tensor([[True, True, True, True, False]]))


def test_ranking_distillation_loss_by_hand():
    scores = torch.tensor([[0.0, 2.0, -1.0, 1.0], [1.0, 0.0, 0.0, 3.0]], requires_grad=True)
    top = torch.tensor([[1, 3], [3, 0]])
    w = torch.tensor([0.75, 0.25])
    loss = ranking_distillation_loss(scores, top, w)
    ls = F.logsigmoid
    expected = -(0.75 * ls(torch.tensor(2.0)) + 0.25 * ls(torch.tensor(1.0))
                 + 0.75 * ls(torch.tensor(3.0)) + 0.25 * ls(torch.tensor(1.0))) / 2
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert scores.grad[0, 0] == 0 and scores.grad[0, 2] == 0  # items outside the top-K get no gradient
    assert (scores.grad[torch.arange(2), top[:, 0]] < 0).all()  # the teacher's items are pushed up
    per_user = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert ranking_distillation_loss(scores, top, per_user).item() == \
        pytest.approx(-(ls(torch.tensor(2.0)) + ls(torch.tensor(1.0))).item() / 2)


# ----------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "2", True, None])
def test_bad_temperature(temperature):
    s, t = logits()
    with pytest.raises(ValueError, match=r"temperature must be a finite number > 0, got"):
        kd_loss(s, t, temperature)
    with pytest.raises(ValueError, match="temperature"):
        pointwise_kd_loss(s, t, temperature)


def test_bad_inputs_to_kd_loss():
    s, t = logits()
    with pytest.raises(ValueError, match=r"same shape, got \(6, 9\) and \(6, 8\)"):
        kd_loss(s, t[:, :8], 1.0)
    with pytest.raises(ValueError, match=r"2-D floating tensor \[b, n_items\], got .*shape \(9,\)"):
        kd_loss(s[0], t[0], 1.0)
    with pytest.raises(ValueError, match=r"2-D floating tensor"):
        kd_loss(s.unsqueeze(0), t.unsqueeze(0), 1.0)
    with pytest.raises(ValueError, match=r"2-D floating tensor"):
        kd_loss(s.long(), t, 1.0)
    with pytest.raises(ValueError, match=r"reduction must be one of .*got 'mean'"):
        kd_loss(s, t, 1.0, reduction="mean")
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(6, 9\)"):
        kd_loss(s, t, 1.0, mask=torch.zeros(6, 9))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor"):
        kd_loss(s, t, 1.0, mask=torch.zeros(6, 8, dtype=torch.bool))
    full = torch.zeros(6, 9, dtype=torch.bool)
    full[2] = True
    with pytest.raises(ValueError, match=r"leaves no item in 1 row\(s\), e.g. row \[2\]"):
        kd_loss(s, t, 1.0, mask=full)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.5", None])
def test_bad_alpha(alpha):
    s, t = logits()
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], got"):
        distillation_loss(s, t, torch.tensor(1.0), 2.0, alpha)


def test_bad_hard_loss():
    s, t = logits()
    with pytest.raises(ValueError, match=r"hard_loss must be a scalar .*shape \(6,\)"):
        distillation_loss(s, t, torch.ones(6), 2.0, 0.5)


def test_bad_inputs_to_ranking_distillation():
    scores = torch.zeros(2, 5)
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        teacher_top_k(scores, 0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rank_weights(2.5, 1.0)
    with pytest.raises(ValueError, match="lam must be a finite number > 0, got -1"):
        rank_weights(3, -1)
    with pytest.raises(ValueError, match="k=6, but some user has only 5 items"):
        teacher_top_k(scores, 6)
    with pytest.raises(ValueError, match="NaN"):
        teacher_top_k(torch.full((2, 5), float("nan")), 2)
    top = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"long tensor \[b=2, K\]"):
        ranking_distillation_loss(scores, top.float(), rank_weights(2, 1.0))
    with pytest.raises(ValueError, match=r"item indices in \[0, 5\), got values from 0 to 7"):
        ranking_distillation_loss(scores, torch.tensor([[0, 1], [2, 7]]), rank_weights(2, 1.0))
    with pytest.raises(ValueError, match=r"weights must have shape \[K=2\]"):
        ranking_distillation_loss(scores, top, rank_weights(3, 1.0))
    with pytest.raises(ValueError, match="non-negative"):
        ranking_distillation_loss(scores, top, torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="student_scores must be a 2-D"):
        ranking_distillation_loss(scores[0], top, rank_weights(2, 1.0))


# --- the distillation term of a student's training step -------------------------------------------------

def test_ranking_distillation_with_negatives_is_pairwise():
    torch.manual_seed(0)
    scores = torch.randn(3, 8)
    top = torch.tensor([[0, 1], [2, 3], [4, 5]])
    negatives = torch.tensor([7, 6, 7])
    w = rank_weights(2, 1.0)
    expected = -(w * F.logsigmoid(scores.gather(1, top) - scores[torch.arange(3), negatives][:, None])).sum(1).mean()
    got = ranking_distillation_loss(scores, top, w, negative_items=negatives)
    assert torch.allclose(got, expected)
    # Adding the same constant to every score changes nothing once negatives are used.
    assert torch.allclose(ranking_distillation_loss(scores + 5.0, top, w, negative_items=negatives), got)


class _Recorder(torch.nn.Module):
    """A student whose scores are a parameter table; remembers which users each call scored."""

    def __init__(self, n_users, n_items):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(n_users, n_items))
        self.calls = []

    def forward(self, users, history=None):
        self.calls.append(users.clone())
        return self.table[users]


def test_student_objective_matches_the_losses_and_samples_users():
    torch.manual_seed(0)
    teacher = torch.randn(6, 10)
    seen = torch.zeros(6, 10, dtype=torch.bool)
    seen[:, :3] = True
    student = _Recorder(6, 10)
    users = torch.arange(6)
    listwise = student_objective("listwise", teacher, seen, temperature=0.5, users_per_step=10)
    assert torch.allclose(listwise(student, users),
                          listwise_kd_loss(student.table, teacher, 0.5, exclude=seen))
    sampled = student_objective("pointwise", teacher, seen, users_per_step=4,
                                        generator=torch.Generator().manual_seed(0))
    sampled(student, users)
    assert len(student.calls[-1]) == 4 and len(set(student.calls[-1].tolist())) == 4
    ranking = student_objective("ranking", teacher, seen, top_k=2, lam=1.0)
    loss = ranking(student, users)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(student.table.grad[:, :3] == 0)  # seen items get no gradient
    with pytest.raises(ValueError, match="method must be one of"):
        student_objective("softmax", teacher, seen)


def test_matched_temperature_finds_the_temperature_of_a_given_entropy():
    scores = torch.randn(6, 40, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = torch.zeros(6, 40, dtype=torch.bool)
    seen[:, :5] = True
    entropy = distill.target_entropy(scores, 0.3, exclude=seen)
    assert 0 < entropy < math.log(35)
    assert distill.matched_temperature(scores, entropy, exclude=seen) == pytest.approx(0.3, rel=1e-4)
    with pytest.raises(ValueError, match="entropy must lie between"):
        distill.matched_temperature(scores, math.log(35) + 1, exclude=seen)
