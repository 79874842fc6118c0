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
