"""tinyrec.evaluate: the protocol (full ranking, seen items excluded)."""

import pytest
import torch

from tinyrec import evaluate, metrics, models


def test_evaluation_excludes_seen_items(synthetic_split):
    split = synthetic_split
    seen = evaluate.seen_items(split, "test")
    assert torch.equal(seen, split.mask("train") | split.mask("valid"))
    assert torch.equal(evaluate.seen_items(split, "valid"), split.mask("train"))
    with pytest.raises(ValueError, match="part"):
        evaluate.seen_items(split, "train")


def test_evaluate_is_the_mean_of_the_per_user_metrics(synthetic_split):
    split = synthetic_split
    model = models.EASE(split.n_items, lam=50.0).fit(split.matrix("train"))
    per_user = evaluate.per_user(model, split, "test")
    means = evaluate.evaluate(model, split, "test")
    assert set(means) == {"ndcg@10", "recall@10", "hit@10", "mrr@10"}
    assert means["ndcg@10"] == pytest.approx(per_user["ndcg@10"].mean().item())
    scores = evaluate.score_all(model, split)
    direct = metrics.mean_at_k(scores, split.mask("test"), 10, exclude=evaluate.seen_items(split, "test"))
    assert direct == pytest.approx(means)


def test_long_tail_and_recall_on_a_segment(synthetic_split):
    split = synthetic_split
    tail = evaluate.long_tail(split, head=0.2)
    counts = torch.as_tensor(split.matrix("train").sum(axis=0)).flatten()
    assert int((~tail).sum()) == round(0.2 * split.n_items)
    assert counts[~tail].min() >= counts[tail].max()  # the head holds the most interacted items
    model = models.EASE(split.n_items, lam=50.0).fit(split.matrix("train"))
    everything = torch.ones(split.n_items, dtype=torch.bool)
    assert evaluate.recall_on(model, split, everything) == pytest.approx(evaluate.evaluate(model, split)["recall@10"])
    popularity = models.Popularity(split.n_items).fit(split.matrix("train"))
    assert evaluate.recall_on(popularity, split, tail) < evaluate.recall_on(popularity, split, ~tail)
    with pytest.raises(ValueError, match="head"):
        evaluate.long_tail(split, head=1.0)
    with pytest.raises(ValueError, match="no user has a relevant item"):
        evaluate.recall_on(model, split, torch.zeros(split.n_items, dtype=torch.bool))
