"""tinyrec.adaptive: two-tier tables count every byte, fit the budget of a uniform table, and put the
most active rows in the head."""

import math

import pytest
import torch

from tinyrec import adaptive, quantize


@pytest.fixture(scope="module")
def weight():
    return torch.randn(50, 16, generator=torch.Generator().manual_seed(0))


def test_bytes_count_codes_scales_basis_and_membership():
    assert adaptive.row_bytes(16, 4) == 8 + 4 and adaptive.row_bytes(5, 2) == 2 + 4
    assert adaptive.uniform_bytes(100, 16, 4) == 1200
    # 10 head rows of int8 (20 B), 90 tail rows of 4 int4 coordinates (2 + 4 B), a 4 x 16 fp16 basis, 13 B of bits
    assert adaptive.mixed_bytes(100, 10, 16, 8, 4, 4) == 10 * 20 + 90 * 6 + 4 * 16 * 2 + 13
    assert adaptive.mixed_bytes(100, 10, 16, 8, 16, 2) == 10 * 20 + 90 * 8 + 13  # same width: no basis


def test_the_equal_bytes_head_is_the_largest_that_fits():
    budget = adaptive.uniform_bytes(100, 16, 4)
    n_head = adaptive.equal_bytes_head(budget, 100, 16, 8, 16, 2)
    assert adaptive.mixed_bytes(100, n_head, 16, 8, 16, 2) <= budget < adaptive.mixed_bytes(100, n_head + 1, 16, 8, 16, 2)
    assert n_head == math.floor((1200 - 813) / 12)
    with pytest.raises(ValueError, match="cannot hold even the all-tail table"):
        adaptive.equal_bytes_head(100, 100, 16, 8, 16, 2)


def test_the_head_is_the_most_active_rows_ties_to_the_lower_index():
    assert adaptive.head_rows([3, 9, 1, 9, 0], 2).tolist() == [False, True, False, True, False]
    assert adaptive.head_rows([5, 5, 5], 1).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="n_head must be in"):
        adaptive.head_rows([1, 2], 3)


def test_a_mixed_precision_table_dequantizes_each_tier_at_its_bits(weight):
    is_head = torch.arange(50) < 10
    table = adaptive.MixedTable.build(weight, is_head, 8, 16, 2)
    assert torch.equal(table.is_head(), is_head) and table.basis is None
    out = table.dequantize()
    f16 = dict(scale_dtype=torch.float16)
    assert torch.allclose(out[:10], quantize.quantize_rows(weight[:10], 8, **f16).dequantize())
    assert torch.allclose(out[10:], quantize.quantize_rows(weight[10:], 2, **f16).dequantize())
    assert table.nbytes == adaptive.mixed_bytes(50, 10, 16, 8, 16, 2)


def test_a_mixed_dimension_tail_is_its_projection_on_the_main_directions(weight):
    low_rank = weight[:, :3] @ torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    is_head = torch.arange(50) < 5
    table = adaptive.MixedTable.build(low_rank, is_head, 8, 3, 8)  # a rank-3 tail loses nothing to the projection
    assert table.basis.shape == (3, 16) and table.basis.dtype == torch.float16
    error = (table.dequantize() - low_rank).abs().max() / low_rank.abs().max()
    assert error < 0.02
    assert table.nbytes == adaptive.mixed_bytes(50, 5, 16, 8, 3, 8)


def test_mixed_mf_fits_both_budgets_and_scores_like_its_tables(weight):
    user, item = weight[:20], weight
    budgets = (adaptive.uniform_bytes(20, 16, 4), adaptive.uniform_bytes(50, 16, 4))
    counts = (torch.arange(20), torch.arange(50))
    model = adaptive.mixed_mf(user, item, counts, adaptive.Scheme(8, 16, 2), budgets)
    assert model.user.nbytes <= budgets[0] and model.item.nbytes <= budgets[1]
    assert model.item.is_head()[-1] and not model.item.is_head()[0]  # the most active rows are the head
    users = torch.tensor([0, 19])
    assert torch.allclose(model(users), model.user.dequantize()[users] @ model.item.dequantize().T)


def test_schemes_that_move_bytes_to_the_head_and_the_grid(weight):
    found = adaptive.schemes(16, per_row_budget=adaptive.row_bytes(16, 4))
    assert adaptive.Scheme(8, 16, 2) in found and adaptive.Scheme(4, 8, 4) not in found  # a head row = the budget
    assert all(adaptive.row_bytes(16, s.head_bits) > 12 > adaptive.row_bytes(s.tail_width, s.tail_bits) for s in found)
    budgets = (adaptive.uniform_bytes(20, 16, 4), adaptive.uniform_bytes(50, 16, 4))
    grid = adaptive.candidates({"a": (weight[:20], weight)}, (torch.arange(20), torch.arange(50)), budgets)
    assert ("a", "head int8, tail int2") in grid
    assert all(m.user.nbytes <= budgets[0] and m.item.nbytes <= budgets[1] for m in grid.values())


def test_bad_input_names_the_offending_value(weight):
    with pytest.raises(ValueError, match="n_head must be in"):
        adaptive.mixed_bytes(10, 11, 16, 8, 16, 2)
    with pytest.raises(ValueError, match="tail_width must be in"):
        adaptive.mixed_bytes(10, 1, 16, 8, 32, 2)
    with pytest.raises(ValueError, match="at least one head and one tail row"):
        adaptive.MixedTable.build(weight, torch.ones(50, dtype=torch.bool), 8, 16, 2)
    with pytest.raises(ValueError, match="not a two-tier table"):
        adaptive.mixed_mf(weight, weight, (torch.arange(50),) * 2, adaptive.Scheme(8, 16, 4),
                          (2 * adaptive.uniform_bytes(50, 16, 8),) * 2)
