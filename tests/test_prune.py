"""tinyrec.prune: exact magnitude pruning, torch.nn.utils.prune's masks, and storage that really shrinks."""

import pytest
import scipy.sparse as sp
import torch
from torch.nn.utils import prune as torch_prune

from tinyrec import measure, models, prune


@pytest.fixture()
def weight():
    return torch.randn(40, 60, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.97, 1.0])
def test_global_mask_keeps_exactly_the_largest(weight, sparsity):
    mask = prune.magnitude_mask(weight, sparsity)
    keep = weight.numel() - round(sparsity * weight.numel())
    assert mask.dtype == torch.bool and mask.shape == weight.shape
    assert int(mask.sum()) == keep
    if 0 < keep < weight.numel():
        assert weight.abs()[mask].min() >= weight.abs()[~mask].max()


def test_ties_still_give_an_exact_count():
    weight = torch.tensor([[0.0, 1.0, -1.0, 1.0], [1.0, 0.0, 0.0, -1.0]])
    mask = prune.magnitude_mask(weight, 0.5)  # keep 4 of the five entries with |w| = 1
    assert int(mask.sum()) == 4
    assert not mask[weight == 0].any()
    assert mask.tolist() == [[False, True, True, True], [True, False, False, False]]  # earliest first


def test_per_row_mask_gives_every_row_the_same_budget(weight):
    weight[3] *= 100  # a row of large weights would take most of a global budget
    mask = prune.row_magnitude_mask(weight, 0.9)
    assert mask.sum(dim=1).tolist() == [6] * 40
    for row in range(40):
        assert weight[row].abs()[mask[row]].min() >= weight[row].abs()[~mask[row]].max()
    assert prune.magnitude_mask(weight, 0.9)[3].sum() > 6
    pruned = prune.magnitude_prune(weight, 0.9, per_row=True)
    assert torch.equal(pruned, weight * mask)


def test_bad_sparsity_is_rejected(weight):
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="sparsity"):
            prune.magnitude_mask(weight, bad)


def test_agrees_with_torch_global_unstructured(weight):
    first, second = torch.nn.Linear(60, 40), torch.nn.Linear(60, 40)
    first.weight.data, second.weight.data = weight.clone(), 3 * weight.flip(0)
    both = torch.cat([first.weight.data.flatten(), second.weight.data.flatten()])
    expected = prune.magnitude_mask(both, 0.8)
    prune.prune_modules([first, second], 0.8)
    kept = torch.cat([first.weight.data.flatten(), second.weight.data.flatten()]) != 0
    assert torch.equal(kept, expected)  # random weights: no ties, so the same entries


def test_torch_prune_makes_the_state_dict_larger_until_removed(weight):
    module = torch.nn.Linear(60, 40)
    module.weight.data = weight.clone()
    dense_bytes = measure.saved_bytes(module)
    torch_prune.l1_unstructured(module, "weight", amount=0.9)
    assert set(module.state_dict()) == {"bias", "weight_orig", "weight_mask"}
    masked_bytes = measure.saved_bytes(module)
    assert masked_bytes > dense_bytes + weight.numel() * 4 * 0.9  # the mask costs as much as the weights
    torch_prune.remove(module, "weight")
    assert set(module.state_dict()) == {"bias", "weight"}
    assert int((module.weight == 0).sum()) == round(0.9 * weight.numel())
    # 90% zeros in a dense tensor: nothing saved on disk (a few bytes of pickle metadata differ)
    assert abs(measure.saved_bytes(module) - dense_bytes) < 100


def test_csr_round_trips_and_counts_bytes_exactly(weight):
    pruned = prune.magnitude_prune(weight, 0.9)
    csr = prune.CSR.from_dense(pruned)
    nnz = int((pruned != 0).sum())
    assert csr.nnz == nnz
    assert csr.values.dtype == torch.float32 and csr.columns.dtype == torch.int16
    assert csr.row_pointers.dtype == torch.int32
    assert csr.nbytes == nnz * (4 + 2) + (40 + 1) * 4 == prune.csr_nbytes(40, nnz)
    assert torch.equal(csr.to_dense(), pruned)
    assert torch.equal(csr.to_torch().to_dense(), pruned)
    x = torch.randn(5, 40)
    assert torch.allclose((csr.to_torch().t() @ x.T).T, x @ pruned, atol=1e-5)


def test_csr_handles_empty_rows_and_rejects_too_many_columns():
    dense = torch.zeros(4, 5)
    dense[2, 1], dense[2, 4] = 1.5, -2.0
    csr = prune.CSR.from_dense(dense)
    assert csr.row_pointers.tolist() == [0, 0, 0, 2, 2]
    assert torch.equal(csr.to_dense(), dense)
    with pytest.raises(ValueError, match="do not fit"):
        prune.CSR.from_dense(torch.ones(2, 40_000))
    assert prune.CSR.from_dense(torch.ones(2, 40_000), index_dtype=torch.int32).nnz == 80_000


def test_break_even_matches_formula_and_byte_counts():
    rows, cols = 1682, 1682
    density = prune.sparse_break_even(rows, cols)
    expected = (rows * cols * 4 - (rows + 1) * 4) / (6 * rows * cols)
    assert density == pytest.approx(expected)
    assert 0.66 < density < 2 / 3
    assert prune.sparse_break_even(rows, cols, index_bytes=4) == pytest.approx(0.5, abs=1e-3)
    dense_bytes = rows * cols * 4
    threshold = density * rows * cols
    assert prune.csr_nbytes(rows, int(threshold)) < dense_bytes < prune.csr_nbytes(rows, int(threshold) + 1)
    # and with a real CSR object at a small size
    small_rows, small_cols = 10, 12
    nnz_below = int(prune.sparse_break_even(small_rows, small_cols) * small_rows * small_cols)
    dense = torch.zeros(small_rows, small_cols)
    dense.view(-1)[:nnz_below] = 1.0
    assert prune.CSR.from_dense(dense).nbytes < small_rows * small_cols * 4
    dense.view(-1)[nnz_below] = 1.0
    assert prune.CSR.from_dense(dense).nbytes > small_rows * small_cols * 4
    with pytest.raises(ValueError, match="must be positive"):
        prune.sparse_break_even(0, 10)


def test_global_masks_prune_several_tensors_against_one_threshold():
    small, large = torch.full((10, 4), 0.1), torch.full((5, 4), 10.0)
    small[0, 0] = 20.0
    masks = prune.global_magnitude_masks([small, large], 0.65)  # 39 of 60 entries go: all small ones but one
    assert [m.shape for m in masks] == [small.shape, large.shape]
    assert int(masks[0].sum()) == 1 and masks[0][0, 0] and bool(masks[1].all())
    weights = [torch.randn(7, 3), torch.randn(2, 9)]
    flat = prune.magnitude_mask(torch.cat([w.flatten() for w in weights]), 0.8)
    assert torch.equal(torch.cat([m.flatten() for m in prune.global_magnitude_masks(weights, 0.8)]), flat)


def test_prune_globally_zeroes_both_tables_and_keep_pruned_checks_its_masks():
    model = models.BPRMF(30, 20, 4)
    masks = prune.prune_globally(model, 0.8)
    assert sorted(masks) == ["item.weight", "user.weight"]
    tables = torch.cat([model.user.weight.flatten(), model.item.weight.flatten()])
    assert int((tables == 0).sum()) == round(0.8 * tables.numel())
    with torch.no_grad():
        model.user.weight.add_(1.0)  # an optimizer step moves the pruned weights ...
    prune.keep_pruned(model, masks)(model)  # ... and the function puts them back to zero
    assert torch.equal(model.user.weight == 0, ~masks["user.weight"])
    with pytest.raises(ValueError, match="no parameter 'users.weight'"):
        prune.keep_pruned(model, {"users.weight": torch.ones(30, 4, dtype=torch.bool)})
    with pytest.raises(ValueError, match="must be bool"):
        prune.keep_pruned(model, {"user.weight": torch.ones(3, 4, dtype=torch.bool)})


def test_popular_items_and_item_subset_scoring():
    x = sp.csr_matrix(torch.tensor([[1, 1, 0, 1, 0], [1, 0, 0, 1, 1], [0, 1, 0, 1, 0]], dtype=torch.float32).numpy())
    kept = prune.popular_items(x, 3)  # counts 2, 2, 0, 3, 1: item 3, then items 0 and 1 (tie -> lower id)
    assert kept.tolist() == [0, 1, 3]
    ease = models.EASE(5, lam=1.0).fit(x)
    subset = prune.ItemSubset.from_ease(ease, kept)
    assert subset.weight.shape == (3, 3) and models.count_parameters(subset) == 9
    history = torch.as_tensor(x.toarray())
    scores = subset(torch.arange(3), history)
    assert torch.isinf(scores[:, [2, 4]]).all() and (scores[:, [2, 4]] < 0).all()
    expected = history[:, kept] @ ease.weight[kept][:, kept]
    assert torch.allclose(scores[:, kept], expected)
    refit = prune.ItemSubset.refit_ease(x, kept, lam=1.0)
    assert torch.allclose(refit.weight, models.EASE(3, lam=1.0).fit(x[:, [0, 1, 3]]).weight)
    with pytest.raises(ValueError, match="keep"):
        prune.popular_items(x, 6)
    with pytest.raises(ValueError, match=r"\[3, 3\]"):
        prune.ItemSubset(torch.zeros(2, 2), kept, 5)


def test_truncate_rank_is_the_best_low_rank_approximation_and_ignores_the_scale_split():
    generator = torch.Generator().manual_seed(3)
    user, item = torch.randn(50, 8, generator=generator), torch.randn(30, 8, generator=generator)
    u3, i3 = prune.truncate_rank(user, item, 3)
    assert u3.shape == (50, 3) and i3.shape == (30, 3)
    left, singular, right_t = torch.linalg.svd((user @ item.T).double())
    best = (left[:, :3] * singular[:3]) @ right_t[:3]  # Eckart–Young
    assert torch.allclose((u3 @ i3.T).double(), best, atol=1e-4)
    full_u, full_i = prune.truncate_rank(user, item, 8)
    assert torch.allclose(full_u @ full_i.T, user @ item.T, atol=1e-4)
    # U A and V A^-T score the same: the truncation does not depend on how the scale was split.
    a = torch.randn(8, 8, generator=generator) + 4 * torch.eye(8)
    u_a, i_a = prune.truncate_rank(user @ a, item @ torch.linalg.inv(a).T, 3)
    assert torch.allclose(u_a @ i_a.T, u3 @ i3.T, atol=1e-3)
    with pytest.raises(ValueError, match="rank"):
        prune.truncate_rank(user, item, 9)
    with pytest.raises(ValueError, match="same d"):
        prune.truncate_rank(user, item[:, :4], 2)


def test_bitmask_bytes_and_its_break_even():
    assert prune.bitmask_nbytes(3, 5, 4) == 2 + 16  # 15 bits round up to 2 bytes, 4 float32 values
    rows, cols = 1682, 64
    dense = rows * cols * 4
    threshold = 1 - 1 / 32  # the density where bitmask + float32 values cost the dense bytes
    assert prune.bitmask_nbytes(rows, cols, round(threshold * rows * cols)) == pytest.approx(dense, rel=1e-4)
    assert prune.bitmask_nbytes(rows, cols, rows * cols // 2) < prune.csr_nbytes(rows, rows * cols // 2)
