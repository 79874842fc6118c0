"""tinyrec.popularity: coverage, popularity share and tail recall on hand-made rankings; the later cohort;
the label sets of Lab 4a."""

import pandas as pd
import pytest
import torch

from tinyrec import data, metrics, popularity


def test_hand_made_rankings():
    # 2 users, 5 items; head = items 0, 1. User 0 has seen item 0 (excluded), so its top 2 is 1, 2.
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0]])
    exclude = torch.tensor([[True, False, False, False, False], [False] * 5])
    relevant = torch.tensor([[False, False, True, True, False], [True, False, False, True, False]])
    head = torch.tensor([True, True, False, False, False])
    share = popularity.popularity_share(scores, head, k=2, exclude=exclude)
    assert share.tolist() == [0.5, 0.0]  # user 0 shows 1 (head), 2; user 1 shows 4, 3
    assert popularity.coverage_at_k(scores, k=2, exclude=exclude) == pytest.approx(4 / 5)  # items 1, 2, 3, 4
    values, users = popularity.tail_recall_at_k(scores, relevant, head, k=2, exclude=exclude)
    assert users.tolist() == [True, True]
    assert values.tolist() == [0.5, 1.0]  # tail relevant: {2, 3} of which 2 shown; {3}, shown
    report = popularity.bias_report(scores, relevant, head, k=2, exclude=exclude)
    assert report["pop_share@2"] == pytest.approx(0.25) and report["coverage@2"] == pytest.approx(0.8)
    assert popularity.data_bias(relevant, head) == pytest.approx({"coverage": 3 / 5, "pop_share": 1 / 4})


def test_a_user_who_has_seen_every_head_item_gets_share_zero_and_ties_go_to_the_lower_index():
    scores = torch.zeros(2, 4)
    head = torch.tensor([False, False, True, True])
    exclude = torch.tensor([[False, False, True, True], [False] * 4])
    assert popularity.popularity_share(scores, head, k=2, exclude=exclude).tolist() == [0.0, 0.0]
    assert popularity.popularity_share(scores, head, k=3).tolist() == [pytest.approx(1 / 3)] * 2


def test_popularity_share_agrees_with_the_ranking_of_metrics():
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(30, 50, generator=generator)
    exclude = torch.rand(30, 50, generator=generator) < 0.3
    head = torch.zeros(50, dtype=torch.bool)
    head[:5] = True
    key = scores.masked_fill(exclude, float("-inf")).sort(dim=1, descending=True, stable=True).indices[:, :10]
    assert torch.allclose(popularity.popularity_share(scores, head, 10, exclude), head[key].float().mean(dim=1))


def test_tail_recall_is_recall_on_tail_items_and_needs_a_tail_item():
    scores = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    relevant = torch.tensor([[1, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0]], dtype=torch.bool)
    head = torch.tensor([True, True, False, False, False, False])
    values, users = popularity.tail_recall_at_k(scores, relevant, head, k=3)
    assert users.tolist() == [True, False, True]
    tail = relevant & ~head
    assert torch.allclose(values, metrics.recall_at_k(scores[users], tail[users], 3))
    with pytest.raises(ValueError, match="outside the head"):
        popularity.tail_recall_at_k(scores, relevant & head, head, k=3)


def test_bad_head_is_a_value_error():
    with pytest.raises(ValueError, match="head must be a bool tensor"):
        popularity.popularity_share(torch.zeros(2, 4), torch.ones(3, dtype=torch.bool))


def test_head_items_counts_training_interactions(synthetic_split):
    head = popularity.head_items(synthetic_split, share=0.1)
    counts = torch.as_tensor(synthetic_split.matrix("train").sum(axis=0)).flatten()
    assert int(head.sum()) == round(0.1 * synthetic_split.n_items)
    assert counts[head].min() >= counts[~head].max()


def test_later_cohort_keeps_the_latest_users_whole(ratings):
    split = data.split_per_user(ratings.iloc[:5000], seed=0)
    cohort, users = popularity.later_cohort(split, 0.5)
    assert cohort.n_users == len(users) == -(-split.n_users // 2) and cohort.n_items == split.n_items
    rows = pd.concat([split.train, split.valid, split.test])
    arrival = torch.as_tensor(rows.groupby("user")["timestamp"].min().sort_index().to_numpy(copy=True))
    others = torch.ones(split.n_users, dtype=torch.bool)
    others[users] = False
    assert arrival[users].min() >= arrival[others].max()
    for name in ("train", "valid", "test"):  # every row of a cohort user, renumbered, and nothing else
        assert torch.equal(cohort.mask(name), split.mask(name)[users])
    assert cohort.fingerprint != split.fingerprint
    with pytest.raises(ValueError, match="fraction"):
        popularity.later_cohort(split, 1.0)


def test_label_set_is_the_teachers_top_k_plus_sampled_unseen_items():
    generator = torch.Generator().manual_seed(0)
    teacher = torch.randn(20, 40, generator=generator)
    seen = torch.rand(20, 40, generator=generator) < 0.2
    top = teacher.masked_fill(seen, float("-inf")).topk(5, dim=1).indices
    only_top = popularity.label_set(teacher, seen, 5)
    assert torch.equal(only_top, torch.zeros_like(seen).scatter_(1, top, True))
    weights = torch.zeros(40)
    weights[30:] = 1.0  # only items 30..39 can be drawn
    labelled = popularity.label_set(teacher, seen, 5, 3, weights=weights, generator=generator)
    assert (labelled.sum(dim=1) == 8).all() and not (labelled & seen).any()
    assert (labelled & ~only_top)[:, :30].sum() == 0
    with pytest.raises(ValueError, match="top_k \\+ n_sampled"):
        popularity.label_set(teacher, seen, 30, 20)
