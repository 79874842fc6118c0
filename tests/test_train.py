"""tinyrec.train: the BPR loop on synthetic data with planted groups."""

import copy

import pytest
import torch

from tinyrec import evaluate, models, prune, train
from tinyrec.config import seed_everything


def fresh(split, dim=8, seed=0):
    seed_everything(seed)
    return models.BPRMF(split.n_users, split.n_items, dim)


def test_bpr_learns_the_planted_groups_and_keeps_its_best_epoch(synthetic_split):
    split = synthetic_split
    pop = models.Popularity(split.n_items).fit(split.matrix("train"))
    bpr, history = train.train_bpr(fresh(split), split, lr=0.01, max_epochs=60, patience=10, seed=0, progress=False)
    assert evaluate.evaluate(bpr, split, "test")["ndcg@10"] > 1.2 * evaluate.evaluate(pop, split, "test")["ndcg@10"]
    assert history[0]["epoch"] == 0 and history[0]["loss"] is None  # the starting state
    best = max(h["valid_ndcg@10"] for h in history)
    assert evaluate.evaluate(bpr, split, "valid")["ndcg@10"] == pytest.approx(best, abs=1e-6)
    assert not bpr.training


def test_training_is_reproducible_from_the_seed(synthetic_split):
    split = synthetic_split
    runs = [train.train_bpr(fresh(split), split, lr=0.01, max_epochs=3, seed=5, progress=False)[0] for _ in range(2)]
    assert torch.equal(runs[0].user.weight, runs[1].user.weight)


def test_fine_tuning_never_returns_a_model_worse_than_it_was_given(synthetic_split):
    """A learning rate far too large wrecks every epoch: the starting state must come back unchanged."""
    split = synthetic_split
    trained, _ = train.train_bpr(fresh(split), split, lr=0.01, max_epochs=30, seed=0, progress=False)
    start = evaluate.evaluate(trained, split, "valid")["ndcg@10"]
    given = copy.deepcopy(trained)
    tuned, history = train.train_bpr(trained, split, lr=50.0, max_epochs=3, patience=3, seed=0, progress=False)
    assert max(h["valid_ndcg@10"] for h in history[1:]) < start  # every epoch was worse ...
    assert evaluate.evaluate(tuned, split, "valid")["ndcg@10"] == pytest.approx(start, abs=1e-7)  # ... so none kept
    assert torch.equal(tuned.user.weight, given.user.weight)


def test_after_step_keeps_pruned_weights_at_zero(synthetic_split):
    split = synthetic_split
    model, _ = train.train_bpr(fresh(split), split, lr=0.01, max_epochs=5, seed=0, progress=False)
    masks = prune.prune_globally(model, 0.8)
    model, _ = train.train_bpr(model, split, lr=0.01, max_epochs=3, seed=0, progress=False,
                               after_step=prune.keep_pruned(model, masks))
    weights = torch.cat([model.user.weight.flatten(), model.item.weight.flatten()])
    assert int((weights == 0).sum()) == round(0.8 * weights.numel())


def test_negatives_never_hit_positives():
    positives = torch.zeros(4, 6, dtype=torch.bool)
    positives[:, :5] = True  # each user has one negative only: item 5
    users = torch.arange(4).repeat(50)
    negatives = train.sample_negatives(users, positives, torch.Generator().manual_seed(0))
    assert torch.all(negatives == 5)


def test_bad_settings_are_rejected(synthetic_split):
    split = synthetic_split
    with pytest.raises(ValueError, match="alpha"):
        train.train_bpr(fresh(split), split, alpha=0.5, progress=False)
    with pytest.raises(ValueError, match="max_epochs must be a positive integer"):
        train.train_bpr(fresh(split), split, max_epochs=0, progress=False)
