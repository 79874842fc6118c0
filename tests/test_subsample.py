"""tinyrec.subsample: which training interactions a data-side compressed student keeps."""

import math

import pytest
import torch

from tinyrec import data, subsample


@pytest.fixture(scope="module")
def split():
    return data.split_per_user(data.synthetic_interactions(n_users=40, n_items=60, per_user=12, seed=0)[0], seed=0)


@pytest.mark.parametrize("rule", subsample.RULES)
def test_keeps_the_share_of_every_user_and_nothing_else(split, rule):
    scores = torch.randn(split.n_users, split.n_items, generator=torch.Generator().manual_seed(0))
    kept = subsample.keep_interactions(split, 0.25, rule, teacher_scores=scores, seed=1)
    sizes = split.train.groupby("user").size()
    assert kept.train.groupby("user").size().to_dict() == {u: max(1, math.ceil(0.25 * n)) for u, n in sizes.items()}
    pairs = set(zip(split.train["user"], split.train["item"]))
    assert set(zip(kept.train["user"], kept.train["item"])) <= pairs
    assert kept.valid is split.valid and kept.test is split.test
    assert kept.fingerprint != split.fingerprint


def test_teacher_rules_keep_the_highest_or_lowest_scores(split):
    scores = torch.randn(split.n_users, split.n_items, generator=torch.Generator().manual_seed(2))
    typical = subsample.keep_interactions(split, 0.25, "teacher-typical", teacher_scores=scores)
    surprising = subsample.keep_interactions(split, 0.25, "teacher-surprising", teacher_scores=scores)
    for user, items in split.train.groupby("user")["item"]:
        ranked = sorted(items, key=lambda i: -scores[user, i].item())
        n = max(1, math.ceil(0.25 * len(ranked)))
        assert sorted(typical.train[typical.train["user"] == user]["item"]) == sorted(ranked[:n])
        assert sorted(surprising.train[surprising.train["user"] == user]["item"]) == sorted(ranked[-n:])


def test_popular_rule_keeps_the_most_seen_items(split):
    counts = split.train["item"].value_counts()
    kept = subsample.keep_interactions(split, 0.25, "popular")
    for user, items in split.train.groupby("user")["item"]:
        ranked = sorted(items, key=lambda i: (-counts[i], i))
        n = max(1, math.ceil(0.25 * len(ranked)))
        assert sorted(kept.train[kept.train["user"] == user]["item"]) == sorted(ranked[:n])


def test_random_rule_depends_on_the_seed_only(split):
    a, b = (subsample.keep_interactions(split, 0.5, "random", seed=s) for s in (0, 0))
    c = subsample.keep_interactions(split, 0.5, "random", seed=1)
    assert a.train.equals(b.train) and a.fingerprint == b.fingerprint
    assert not a.train.equals(c.train) and a.fingerprint != c.fingerprint


def test_bad_input_is_a_clear_error(split):
    with pytest.raises(ValueError, match="fraction"):
        subsample.keep_interactions(split, 0.0, "random")
    with pytest.raises(ValueError, match="rule"):
        subsample.keep_interactions(split, 0.5, "teacher")
    with pytest.raises(ValueError, match="teacher_scores"):
        subsample.keep_interactions(split, 0.5, "teacher-typical")
    with pytest.raises(ValueError, match="teacher_scores"):
        subsample.keep_interactions(split, 0.5, "teacher-typical", teacher_scores=torch.zeros(3, 3))
