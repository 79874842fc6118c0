"""tinyrec.recipes: the book's cached models (trained once per configuration) and the chosen settings."""

import copy

import pytest
import torch

from tinyrec import evaluate, models, prune, recipes, share


def test_bpr_is_trained_once_per_configuration(synthetic_split, isolated_cache):
    split = synthetic_split
    first, history = recipes.trained_bpr(split, dim=4, seed=1, max_epochs=3, progress=False)
    again, again_history = recipes.trained_bpr(split, dim=4, seed=1, max_epochs=3, progress=False)
    assert torch.equal(first.item.weight, again.item.weight) and history == again_history
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert len(list((isolated_cache / "models").glob("bpr-*.pt"))) == 1
    recipes.trained_bpr(split, dim=4, seed=2, max_epochs=3, progress=False)  # another seed: another entry
    assert len(list((isolated_cache / "models").glob("bpr-*.pt"))) == 2


def test_distilled_students_are_cached_per_method_and_learn(synthetic_split, isolated_cache):
    split = synthetic_split
    settings = dict(dim=8, seed=0, lr=0.01, max_epochs=40, progress=False)
    recipes.trained_student(split, method=None, **settings)
    student, _ = recipes.trained_student(split, method="listwise", temperature=0.05, alpha=0.8, teacher_lam=50.0,
                                         **settings)
    pop = models.Popularity(split.n_items).fit(split.matrix("train"))
    assert evaluate.evaluate(student, split)["ndcg@10"] > 1.2 * evaluate.evaluate(pop, split)["ndcg@10"]
    names = sorted(p.name.split("-")[0] for p in (isolated_cache / "models").glob("*.pt"))
    assert names == ["bpr", "ease", "student"]  # the plain student is the ordinary BPR model
    again, _ = recipes.trained_student(split, method="listwise", temperature=0.05, alpha=0.8, teacher_lam=50.0,
                                       **settings)
    assert torch.equal(again.user.weight, student.user.weight)
    control, _ = recipes.trained_student(split, method="listwise", temperature=0.05, alpha=0.8, teacher_lam=50.0,
                                         teacher="constant", **settings)  # the same objective, no knowledge
    assert not torch.equal(control.user.weight, student.user.weight)
    assert len(list((isolated_cache / "models").glob("student-*.pt"))) == 2
    with pytest.raises(ValueError, match="teacher must be 'ease' or 'constant'"):
        recipes.trained_student(split, method="listwise", teacher="random", **settings)


def test_shared_bprmf_trains_and_is_cached(synthetic_split, isolated_cache):
    split = synthetic_split
    settings = dict(dim=8, seed=0, lr=0.01, max_epochs=40, progress=False)
    qr, _ = recipes.trained_bpr(split, share={"kind": "qr", "reduction": 3}, **settings)
    assert isinstance(qr.user, share.QREmbedding) and isinstance(qr.item, share.QREmbedding)
    assert models.count_parameters(qr) <= (split.n_users + split.n_items) * 8 / 3
    recipes.seed_everything(0)
    untrained = share.shared_bprmf(split.n_users, split.n_items, 8, kind="qr", reduction=3)
    assert evaluate.evaluate(qr, split)["ndcg@10"] > 1.5 * evaluate.evaluate(untrained, split)["ndcg@10"]
    again, _ = recipes.trained_bpr(split, share={"kind": "qr", "reduction": 3}, **settings)
    assert torch.equal(again.user.weight, qr.user.weight)
    recipes.trained_bpr(split, **settings)  # the unshared model is a different cache entry
    assert len(list((isolated_cache / "models").glob("bpr-*.pt"))) == 2
    with pytest.raises(ValueError, match="share"):
        recipes.trained_bpr(split, share=("qr", 3), **settings)


def test_pruned_bpr_keeps_its_sparsity_and_never_loses_to_the_pruned_start(synthetic_split, isolated_cache):
    split = synthetic_split
    settings = dict(dim=8, seed=0, lr=0.01, max_epochs=10, progress=False)
    model, history = recipes.pruned_bpr(split, (0.5, 0.8), **settings)
    assert [h["sparsity"] for h in history] == [0.5, 0.8]
    weights = torch.cat([model.user.weight.flatten(), model.item.weight.flatten()])
    assert int((weights == 0).sum()) == round(0.8 * weights.numel())
    # Fine-tuning starts from the pruned model and keeps the best validation state, the start included.
    start = copy.deepcopy(recipes.pruned_bpr(split, (0.5,), **settings)[0])
    prune.prune_globally(start, 0.8)
    assert evaluate.evaluate(model, split, "valid")["ndcg@10"] >= evaluate.evaluate(start, split, "valid")["ndcg@10"]
    assert len(list((isolated_cache / "models").glob("pruned_bpr-*.pt"))) == 2  # both prefixes are cached
    with pytest.raises(ValueError, match="increasing"):
        recipes.pruned_bpr(split, (0.9, 0.5), **settings)


def test_truncated_bpr_starts_from_the_svd_of_the_trained_model(synthetic_split, isolated_cache):
    split = synthetic_split
    settings = dict(dim=8, seed=0, lr=0.01, max_epochs=5, progress=False)
    full, _ = recipes.trained_bpr(split, **settings)
    model, history = recipes.truncated_bpr(split, rank=3, **settings)
    assert model.user.weight.shape == (split.n_users, 3)
    user, item = prune.truncate_rank(full.user.weight, full.item.weight, 3)
    start = models.with_weights(models.BPRMF(split.n_users, split.n_items, 3), {"user.weight": user, "item.weight": item})
    assert history[0]["valid_ndcg@10"] == pytest.approx(evaluate.ndcg(start, split, "valid"))
    assert evaluate.ndcg(model, split, "valid") >= history[0]["valid_ndcg@10"]
