"""Tests of tinyrec.metrics against hand-worked numbers, scikit-learn and a naive reference."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score

from tinyrec import metrics
from tinyrec.metrics import (
    bootstrap_ci, hit_at_k, mean_at_k, mrr_at_k, ndcg_at_k, paired_bootstrap_ci, paired_over_seeds, recall_at_k, top_k_hits,
)

METRICS = [recall_at_k, ndcg_at_k, hit_at_k, mrr_at_k]
L3 = 1 / math.log2(3)  # discount at rank 2 = 0.63093
L6 = 1 / math.log2(6)  # discount at rank 5 = 0.38685


def random_case(n_users=50, n_items=40, p_rel=0.15, p_excl=0.2, seed=0, dtype=torch.float64):
    """Tie-free random scores, >= 1 relevant item per row (per-user rate uniform in [0, 2 * p_rel]),
    exclude disjoint from relevant."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.rand(n_users, n_items, generator=g, dtype=dtype)
    relevant = torch.rand(n_users, n_items, generator=g) < 2 * p_rel * torch.rand(n_users, 1, generator=g)
    relevant[torch.arange(n_users), torch.randint(n_items, (n_users,), generator=g)] = True
    exclude = (torch.rand(n_users, n_items, generator=g) < p_excl) & ~relevant
    return scores, relevant, exclude


def naive(scores, relevant, k, exclude=None):
    """Independent per-user loop: rank by (excluded last, score desc, item index asc)."""
    out = {"recall": [], "ndcg": [], "hit": [], "mrr": []}
    for u in range(scores.shape[0]):
        s, rel = scores[u].tolist(), relevant[u].tolist()
        ex = exclude[u].tolist() if exclude is not None else [False] * len(s)
        ranked = sorted(range(len(s)), key=lambda i: (ex[i], -s[i], i))[:k]
        hits = [rel[i] for i in ranked]
        n_rel = sum(rel)
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_rel)))
        out["recall"].append(sum(hits) / n_rel)
        out["ndcg"].append(dcg / idcg)
        out["hit"].append(float(any(hits)))
        out["mrr"].append(next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0))
    return {name: torch.tensor(v, dtype=torch.float64) for name, v in out.items()}


# ---------------------------------------------------------------------------------------------- hand-worked

# One user, five items. Scores [0.1, 0.9, 0.3, 0.7, 0.5] rank the items 1, 3, 4, 2, 0.
# Relevant items are {0, 3}: item 3 is at rank 2, item 0 at rank 5.
HAND_SCORES = torch.tensor([[0.1, 0.9, 0.3, 0.7, 0.5]])
HAND_REL = torch.tensor([[True, False, False, True, False]])


def test_hand_example_k3():
    # Top 3 = items 1, 3, 4 -> relevance [F, T, F].
    assert top_k_hits(HAND_SCORES, HAND_REL, 3).tolist() == [[False, True, False]]
    # Recall = 1 hit / 2 relevant = 0.5.
    assert recall_at_k(HAND_SCORES, HAND_REL, 3).tolist() == pytest.approx([0.5])
    # DCG = 1/log2(3) = 0.63093; IDCG over min(3, 2) = 2 positions = 1 + 0.63093 = 1.63093;
    # NDCG = 0.63093 / 1.63093 = 0.38685.
    assert ndcg_at_k(HAND_SCORES, HAND_REL, 3).tolist() == pytest.approx([L3 / (1 + L3)])
    assert ndcg_at_k(HAND_SCORES, HAND_REL, 3).item() == pytest.approx(0.38685, abs=1e-5)
    # Hit = 1 (a relevant item is in the top 3); MRR = 1 / rank 2 = 0.5.
    assert hit_at_k(HAND_SCORES, HAND_REL, 3).tolist() == [1.0]
    assert mrr_at_k(HAND_SCORES, HAND_REL, 3).tolist() == [0.5]


def test_hand_example_k5():
    # Top 5 = whole catalogue -> relevance [F, T, F, F, T]. Recall = 2/2 = 1.
    # DCG = 1/log2(3) + 1/log2(6) = 0.63093 + 0.38685 = 1.01778; IDCG = 1.63093; NDCG = 0.62405.
    assert recall_at_k(HAND_SCORES, HAND_REL, 5).tolist() == [1.0]
    assert ndcg_at_k(HAND_SCORES, HAND_REL, 5).item() == pytest.approx((L3 + L6) / (1 + L3))
    assert ndcg_at_k(HAND_SCORES, HAND_REL, 5).item() == pytest.approx(0.62405, abs=1e-5)
    assert hit_at_k(HAND_SCORES, HAND_REL, 5).tolist() == [1.0]
    assert mrr_at_k(HAND_SCORES, HAND_REL, 5).tolist() == [0.5]


def test_hand_example_k1_is_a_miss():
    # Top 1 = item 1, not relevant: every metric is 0.
    for fn in METRICS:
        assert fn(HAND_SCORES, HAND_REL, 1).tolist() == [0.0], fn.__name__


def test_recall_denominator_is_all_relevant_items():
    # 4 relevant items, all ranked on top; K = 2 -> Recall = 2/4 = 0.5 (RecBole), NDCG = 1 (IDCG over 2).
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    relevant = torch.tensor([[True, True, True, True, False]])
    assert recall_at_k(scores, relevant, 2).item() == 0.5
    assert ndcg_at_k(scores, relevant, 2).item() == pytest.approx(1.0)


def test_ndcg_ideal_uses_min_k_and_num_relevant():
    # 1 relevant item at rank 1, K = 3: IDCG over min(3, 1) = 1 position -> NDCG = 1, not 1 / (1 + L3 + 0.5).
    scores = torch.tensor([[3.0, 2.0, 1.0]])
    relevant = torch.tensor([[True, False, False]])
    assert ndcg_at_k(scores, relevant, 3).item() == pytest.approx(1.0)


def test_multi_user_rows_are_independent():
    # User 0: relevant item ranked 1st -> MRR 1.
    # User 1: relevant item ranked 3rd -> MRR 1/3, NDCG 1/log2(4) = 0.5.
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    relevant = torch.tensor([[True, False, False], [False, False, True]])
    assert mrr_at_k(scores, relevant, 3).tolist() == pytest.approx([1.0, 1 / 3])
    assert ndcg_at_k(scores, relevant, 3).tolist() == pytest.approx([1.0, 0.5])
    assert hit_at_k(scores, relevant, 2).tolist() == [1.0, 0.0]


# ----------------------------------------------------------------------------------- independent references


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_ndcg_matches_sklearn(k):
    # Tie-free random scores; |relevant| ranges on both sides of k, so the IDCG truncation is exercised.
    scores, relevant, _ = random_case(n_users=60, n_items=40, p_rel=0.2, seed=k)
    n_rel = relevant.sum(1)
    assert (n_rel < k).any() or k == 1
    assert (n_rel > k).any() or k == 40
    ours = ndcg_at_k(scores, relevant, k)
    ref = [ndcg_score(relevant[u:u + 1].int().numpy(), scores[u:u + 1].numpy(), k=k) for u in range(60)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12)


def test_sklearn_ideal_dcg_is_truncated_at_k_for_binary_relevance():
    # Check the premise of the comparison above: 3 relevant items, K = 2, best ranking -> sklearn gives 1.0
    # (IDCG over min(2, 3) = 2 positions), and so do we.
    y_true, y_score = np.array([[1, 1, 1, 0]]), np.array([[0.9, 0.8, 0.1, 0.5]])
    # DCG@2 = 1 + 1/log2(3) = IDCG@2 -> 1.0
    assert ndcg_score(y_true, y_score, k=2) == pytest.approx(1.0)
    ours = ndcg_at_k(torch.tensor(y_score), torch.tensor(y_true, dtype=torch.bool), 2)
    assert ours.item() == pytest.approx(1.0)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_excluded_items_match_sklearn_on_remaining_catalogue(k):
    # Excluding items must equal ranking the catalogue with those items removed.
    scores, relevant, exclude = random_case(n_users=30, n_items=25, p_excl=0.3, seed=100 + k)
    ours = ndcg_at_k(scores, relevant, k, exclude=exclude)
    for u in range(30):
        keep = ~exclude[u]
        ref = ndcg_score(relevant[u, keep][None].int().numpy(), scores[u, keep][None].numpy(), k=k)
        assert ours[u].item() == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("k", [1, 4, 10, 100])
@pytest.mark.parametrize("with_exclude", [False, True])
def test_all_metrics_match_naive_loop(k, with_exclude):
    scores, relevant, exclude = random_case(n_users=40, n_items=30, seed=k)
    exclude = exclude if with_exclude else None
    ref = naive(scores, relevant, k, exclude)
    for name, fn in [("recall", recall_at_k), ("ndcg", ndcg_at_k), ("hit", hit_at_k), ("mrr", mrr_at_k)]:
        np.testing.assert_allclose(fn(scores, relevant, k, exclude=exclude).numpy(), ref[name].numpy(),
                                   rtol=1e-12, err_msg=name)


def test_evaluate_is_mean_of_per_user_metrics_and_keys_use_k():
    scores, relevant, exclude = random_case(seed=7, dtype=torch.float32)
    out = mean_at_k(scores, relevant, k=5, exclude=exclude)
    assert list(out) == ["ndcg@5", "recall@5", "hit@5", "mrr@5"]
    for name, fn in [("ndcg", ndcg_at_k), ("recall", recall_at_k), ("hit", hit_at_k), ("mrr", mrr_at_k)]:
        assert isinstance(out[f"{name}@5"], float)
        assert out[f"{name}@5"] == pytest.approx(fn(scores, relevant, 5, exclude=exclude).mean().item())
    assert set(mean_at_k(scores, relevant)) == {"ndcg@10", "recall@10", "hit@10", "mrr@10"}


def test_output_shape_dtype_and_range():
    scores, relevant, exclude = random_case(n_users=17, seed=3, dtype=torch.float32)
    for fn in METRICS:
        out = fn(scores, relevant, 10, exclude=exclude)
        assert out.shape == (17,) and out.dtype == torch.float32, fn.__name__
        assert ((out >= 0) & (out <= 1 + 1e-6)).all(), fn.__name__
    assert top_k_hits(scores, relevant, 10).shape == (17, 10)
    assert top_k_hits(scores, relevant, 10).dtype == torch.bool


# ------------------------------------------------------------------------------------------------ edge cases


def test_k_larger_than_catalogue_is_clamped():
    for fn in METRICS:
        assert torch.equal(fn(HAND_SCORES, HAND_REL, 100), fn(HAND_SCORES, HAND_REL, 5)), fn.__name__
    assert top_k_hits(HAND_SCORES, HAND_REL, 100).shape == (1, 5)
    assert mean_at_k(HAND_SCORES, HAND_REL, k=100)["recall@100"] == 1.0


def test_excluded_top_item_is_never_ranked():
    # Item 0 has the highest score but is excluded; item 1 (relevant) must become rank 1.
    scores = torch.tensor([[10.0, 5.0, 1.0, 0.0]])
    relevant = torch.tensor([[False, True, False, False]])
    exclude = torch.tensor([[True, False, False, False]])
    assert hit_at_k(scores, relevant, 1).item() == 0.0  # without exclusion: item 0 occupies rank 1
    assert hit_at_k(scores, relevant, 1, exclude=exclude).item() == 1.0
    assert mrr_at_k(scores, relevant, 4, exclude=exclude).item() == 1.0
    assert ndcg_at_k(scores, relevant, 1, exclude=exclude).item() == 1.0


def test_excluded_items_rank_after_minus_inf_scores():
    # A relevant item scored -inf still ranks before excluded items (excluded = never ranked).
    scores = torch.tensor([[5.0, 4.0, float("-inf"), 3.0]])
    relevant = torch.tensor([[False, False, True, False]])
    exclude = torch.tensor([[True, True, False, True]])
    assert mrr_at_k(scores, relevant, 1, exclude=exclude).item() == 1.0


def test_excluded_items_fill_the_tail_when_k_exceeds_candidates():
    # 2 candidates left, k = 4: the extra positions hold excluded (never relevant) items.
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    relevant = torch.tensor([[False, False, False, True]])
    exclude = torch.tensor([[True, True, False, False]])
    assert top_k_hits(scores, relevant, 4, exclude=exclude).tolist() == [[False, True, False, False]]
    assert mrr_at_k(scores, relevant, 4, exclude=exclude).item() == 0.5


def test_ties_break_by_lower_item_index():
    scores = torch.zeros(1, 6)
    first, last = torch.zeros(1, 6, dtype=torch.bool), torch.zeros(1, 6, dtype=torch.bool)
    first[0, 0], last[0, 5] = True, True
    assert mrr_at_k(scores, first, 3).item() == 1.0
    assert hit_at_k(scores, last, 5).item() == 0.0
    assert mrr_at_k(scores, last, 6).item() == pytest.approx(1 / 6)


def test_ties_are_deterministic_on_large_input():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 3, (200, 500), generator=g).float()  # many ties
    relevant = torch.rand(200, 500, generator=g) < 0.05
    relevant[:, 0] = True
    hits = top_k_hits(scores, relevant, 50)
    assert all(torch.equal(hits, top_k_hits(scores.clone(), relevant.clone(), 50)) for _ in range(3))
    np.testing.assert_allclose(ndcg_at_k(scores, relevant, 50).numpy(),
                               naive(scores, relevant, 50)["ndcg"].numpy(), rtol=1e-6)


def test_row_without_relevant_item_raises_and_names_it():
    relevant = torch.tensor([[True, False], [False, False], [False, True]])
    for fn in METRICS + [top_k_hits]:
        with pytest.raises(ValueError, match=r"1 row\(s\).*\[1\]"):
            fn(torch.rand(3, 2), relevant, 1)


def test_relevant_and_exclude_overlap_raises():
    relevant = torch.tensor([[True, False, True]])
    with pytest.raises(ValueError, match="overlap at 1 position"):
        recall_at_k(torch.rand(1, 3), relevant, 2, exclude=torch.tensor([[True, False, False]]))


@pytest.mark.parametrize("k", [0, -1, 1.5, "3", None, True, 2.0])
def test_bad_k_raises(k):
    for fn in METRICS + [top_k_hits]:
        with pytest.raises(ValueError, match="k must be a positive integer"):
            fn(HAND_SCORES, HAND_REL, k)


def test_numpy_integer_k_is_accepted():
    assert recall_at_k(HAND_SCORES, HAND_REL, np.int64(3)).tolist() == [0.5]


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="relevant must have the shape of scores"):
        recall_at_k(torch.rand(2, 5), torch.ones(2, 4, dtype=torch.bool), 3)
    with pytest.raises(ValueError, match="exclude must have the shape of scores"):
        recall_at_k(torch.rand(2, 5), torch.ones(2, 5, dtype=torch.bool), 3,
                    exclude=torch.zeros(5, 2, dtype=torch.bool))


@pytest.mark.parametrize("dtype", [torch.int64, torch.float32, torch.uint8])
def test_non_bool_masks_raise(dtype):
    mask = torch.ones(1, 5, dtype=dtype)
    with pytest.raises(ValueError, match="relevant must be a bool tensor"):
        ndcg_at_k(HAND_SCORES, mask, 3)
    with pytest.raises(ValueError, match="exclude must be a bool tensor"):
        ndcg_at_k(HAND_SCORES, HAND_REL, 3, exclude=torch.zeros(1, 5, dtype=dtype))
    with pytest.raises(ValueError, match="relevant must be a bool tensor"):
        ndcg_at_k(HAND_SCORES, HAND_REL.numpy(), 3)


@pytest.mark.parametrize("scores", [
    torch.tensor([[1, 2, 3, 4, 5]]),  # integer
    torch.tensor([0.1, 0.9, 0.3, 0.7, 0.5]),  # 1-D
    torch.rand(1, 1, 5),  # 3-D
    [[0.1, 0.9, 0.3, 0.7, 0.5]],  # not a tensor
])
def test_bad_scores_raise(scores):
    with pytest.raises(ValueError, match="scores must be a 2-D floating tensor"):
        hit_at_k(scores, HAND_REL, 3)


def test_nan_scores_raise():
    scores = HAND_SCORES.clone()
    scores[0, 2] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        mrr_at_k(scores, HAND_REL, 3)


def test_empty_scores_raise():
    with pytest.raises(ValueError, match="at least one user and one item"):
        recall_at_k(torch.rand(0, 5), torch.zeros(0, 5, dtype=torch.bool), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    scores, relevant, exclude = random_case(seed=11, dtype=torch.float32)
    for fn in METRICS:
        gpu = fn(scores.cuda(), relevant, 10, exclude=exclude.cuda())  # masks moved to the scores' device
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), fn(scores, relevant, 10, exclude=exclude))


# ------------------------------------------------------------------------------------------------- bootstrap


def test_paired_ci_contains_true_difference():
    # a = b + 0.05 + small noise: the true mean difference is 0.05.
    rng = np.random.default_rng(1)
    b = rng.random(2000)
    a = b + 0.05 + 0.02 * rng.standard_normal(2000)
    diff, low, high = paired_bootstrap_ci(a, b)
    assert diff == pytest.approx(np.mean(a - b))
    assert low < 0.05 < high
    assert low < diff < high


def test_bootstrap_matches_normal_approximation():
    # For a large sample the percentile interval ~ mean +- 1.96 * sd / sqrt(n).
    rng = np.random.default_rng(2)
    x = rng.exponential(size=5000)
    mean, low, high = bootstrap_ci(x)
    half = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert mean == pytest.approx(x.mean())
    assert low == pytest.approx(mean - half, abs=0.1 * half)
    assert high == pytest.approx(mean + half, abs=0.1 * half)


def test_zero_width_when_equal():
    a = torch.rand(943, generator=torch.Generator().manual_seed(0))
    assert paired_bootstrap_ci(a, a.clone()) == (0.0, 0.0, 0.0)
    assert bootstrap_ci(np.full(50, 0.25)) == (0.25, 0.25, 0.25)


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    a, b = rng.random(300), rng.random(300)
    assert paired_bootstrap_ci(a, b, seed=5) == paired_bootstrap_ci(a, b, seed=5)
    assert bootstrap_ci(a, seed=5) == bootstrap_ci(a, seed=5)
    assert paired_bootstrap_ci(a, b, seed=5) != paired_bootstrap_ci(a, b, seed=6)


def test_interval_narrows_as_n_grows():
    rng = np.random.default_rng(4)
    widths = []
    for n in [50, 500, 5000]:
        a = rng.random(n)
        b = a + 0.1 * rng.standard_normal(n)
        _, low, high = paired_bootstrap_ci(a, b, n_resamples=2000)
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10, rel=0.3)  # width ~ 1 / sqrt(n)


def test_paired_is_narrower_than_unpaired_for_correlated_systems():
    # b tracks a closely (shared per-user difficulty); shuffling b breaks the pairing but keeps
    # both marginal distributions and the mean difference, i.e. the unpaired situation.
    rng = np.random.default_rng(5)
    a = rng.random(943)
    b = a - 0.01 + 0.02 * rng.standard_normal(943)
    d_paired, lo_p, hi_p = paired_bootstrap_ci(a, b)
    d_unpaired, lo_u, hi_u = paired_bootstrap_ci(a, rng.permutation(b))
    assert d_paired == pytest.approx(d_unpaired)
    assert (hi_p - lo_p) < 0.2 * (hi_u - lo_u)
    assert lo_p > 0  # the paired test resolves the 0.01 difference; the unpaired one does not
    assert lo_u < 0 < hi_u


def test_bootstrap_accepts_torch_tensors_and_confidence_changes_width():
    x = torch.rand(500, generator=torch.Generator().manual_seed(6))
    _, lo90, hi90 = bootstrap_ci(x, confidence=0.90)
    _, lo99, hi99 = bootstrap_ci(x.numpy(), confidence=0.99)
    assert hi99 - lo99 > hi90 - lo90


def test_bootstrap_validation():
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_ci(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="non-empty"):
        paired_bootstrap_ci([], [])
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci(np.array([]))
    with pytest.raises(ValueError, match="1-D"):
        bootstrap_ci(np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])
    for confidence in [0, 1, 1.5, -0.1]:
        with pytest.raises(ValueError, match="confidence"):
            paired_bootstrap_ci(np.ones(3), np.ones(3), confidence=confidence)
    for n in [0, -5, 2.5]:
        with pytest.raises(ValueError, match="n_resamples"):
            bootstrap_ci(np.ones(3), n_resamples=n)


def test_public_names():
    for name in ["recall_at_k", "ndcg_at_k", "hit_at_k", "mrr_at_k", "top_k_hits", "mean_at_k",
                 "bootstrap_ci", "paired_bootstrap_ci"]:
        assert name in metrics.__all__ and callable(getattr(metrics, name))


def test_coverage_counts_the_items_anyone_is_shown():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    assert metrics.coverage_at_k(scores, k=2) == pytest.approx(1.0)  # {0, 1} and {3, 2}
    assert metrics.coverage_at_k(scores[:2], k=2) == pytest.approx(0.5)  # the same list for everyone
    exclude = torch.zeros(2, 4, dtype=torch.bool)
    exclude[:, 0] = True  # item 0 was seen by both: the lists become {1, 2}
    assert metrics.coverage_at_k(scores[:2], k=2, exclude=exclude) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.coverage_at_k(scores, k=0)


def test_sampled_ndcg_ranks_the_positive_among_its_candidates_only():
    scores = torch.tensor([[0.9, 0.5, 0.1, 0.7, 0.3],
                           [0.2, 0.2, 0.2, 0.9, 0.1]])
    positive = torch.tensor([1, 2])
    negatives = torch.tensor([[2, 4], [0, 4]])  # user 0: 0.5 beats 0.1 and 0.3 -> rank 0, items 0 and 3 not sampled
    values = metrics.sampled_ndcg_at_k(scores, positive, negatives, k=2)
    # user 1: item 0 ties with the positive (item 2) and has the lower index -> rank 1
    assert torch.allclose(values, torch.tensor([1.0, 1 / math.log2(3)]))
    assert metrics.sampled_ndcg_at_k(scores, positive, negatives, k=1)[1] == 0
    full = metrics.ndcg_at_k(scores, torch.nn.functional.one_hot(positive, 5).bool(), k=2)
    assert full[0] < values[0]  # on the full catalogue two items outrank user 0's positive
    with pytest.raises(ValueError, match="contain its positive"):
        metrics.sampled_ndcg_at_k(scores, positive, torch.tensor([[1, 4], [0, 4]]))
    with pytest.raises(ValueError, match="expected scores"):
        metrics.sampled_ndcg_at_k(scores, positive[:1], negatives)


def test_paired_over_seeds_averages_seeds_per_user_and_drops_nan_users():
    a = [torch.tensor([1.0, 2.0, float("nan")]), torch.tensor([3.0, 2.0, 1.0])]
    b = [torch.tensor([0.0, 2.0, 0.0]), torch.tensor([1.0, 0.0, 0.0])]
    diff, low, high, per_seed = paired_over_seeds(a, b, n_resamples=500)
    assert diff == pytest.approx(((2.0 - 0.5) + (2.0 - 1.0)) / 2)  # the NaN user is dropped
    assert low <= diff <= high
    assert per_seed == pytest.approx([0.5, 5 / 3])


def test_paired_over_seeds_rejects_unequal_seed_counts():
    with pytest.raises(ValueError, match="same non-zero number of seeds"):
        paired_over_seeds([torch.ones(3)], [torch.ones(3), torch.ones(3)])
