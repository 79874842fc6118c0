"""tinyrec.models: EASE (also on a restricted support), BPR-MF, popularity, and copies with new weights."""

import pytest
import scipy.sparse as sp
import torch

from tinyrec import evaluate, models, prune


def test_ease_has_zero_diagonal_and_solves_its_normal_equations(synthetic_split):
    split = synthetic_split
    model = models.EASE(split.n_items, lam=10.0).fit(split.matrix("train"))
    b = model.weight.double()
    assert torch.all(torch.diagonal(b) == 0)
    x = torch.as_tensor(split.matrix("train").toarray(), dtype=torch.float64)
    # Stationarity off the diagonal: (X^T X + lam I) B - X^T X is zero except on the diagonal.
    residual = (x.T @ x + 10.0 * torch.eye(split.n_items, dtype=torch.float64)) @ b - x.T @ x
    off_diagonal = residual - torch.diag(torch.diagonal(residual))
    assert off_diagonal.abs().max() < 1e-3
    assert models.count_parameters(model) == split.n_items ** 2
    with pytest.raises(ValueError, match="lam"):
        models.EASE(10, lam=0)


def test_ease_on_a_support_is_ease_on_the_full_one_and_beats_plain_pruning():
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand(200, 30, generator=generator) < 0.2).double()
    matrix = sp.csr_matrix(x.numpy())
    lam = 5.0
    ease = models.EASE(30, lam).fit(matrix).weight
    full = models.EASE(30, lam).fit(matrix, support=torch.ones(30, 30, dtype=torch.bool)).weight
    assert torch.allclose(full, ease, atol=1e-5)
    mask = prune.magnitude_mask(ease, 0.8)
    refit = models.EASE(30, lam).fit(matrix, support=mask).weight
    assert not refit[~mask].any()

    def loss(b):
        return ((x - x @ b.double()) ** 2).sum() + lam * (b.double() ** 2).sum()

    assert loss(refit) < loss(ease * mask)
    with pytest.raises(ValueError, match=r"support must be a bool tensor of shape \(30, 30\)"):
        models.EASE(30, lam).fit(matrix, support=torch.ones(30, 29, dtype=torch.bool))


def test_models_share_one_call_signature(synthetic_split):
    split = synthetic_split
    users, history = torch.arange(5), split.mask("train")[:5].float()
    for model in (models.Popularity(split.n_items).fit(split.matrix("train")),
                  models.BPRMF(split.n_users, split.n_items, 4), models.EASE(split.n_items)):
        assert model(users, history).shape == (5, split.n_items)
    bpr = models.BPRMF(split.n_users, split.n_items, 4)
    assert torch.allclose(bpr.pair_scores(users, users), bpr(users).diagonal())
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="dim must be a positive integer"):
            models.BPRMF(10, 10, bad)


def test_with_weights_replaces_parameters_of_a_copy(synthetic_split):
    split = synthetic_split
    bpr = models.BPRMF(split.n_users, split.n_items, 4)
    zero_items = torch.zeros(split.n_items, 4)
    copy = models.with_weights(bpr, {"item.weight": zero_items})
    assert torch.equal(copy.item.weight, zero_items) and not torch.equal(bpr.item.weight, zero_items)
    assert torch.equal(copy.user.weight, bpr.user.weight) and not copy.training
    assert evaluate.score_all(copy, split).abs().max() == 0
    ease = models.EASE(split.n_items)
    with pytest.raises(ValueError, match="no parameter 'B'"):
        models.with_weights(ease, {"B": torch.zeros(3, 3)})
    with pytest.raises(ValueError, match=r"weight must have shape \(120, 120\), got \(3, 3\)"):
        models.with_weights(ease, {"weight": torch.zeros(3, 3)})
