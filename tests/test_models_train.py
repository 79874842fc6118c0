"""tinyrec.models, tinyrec.train and tinyrec.evaluate on small synthetic data with planted groups."""

import pickle

import pytest
import torch

from tinyrec import data, evaluate, models, train


@pytest.fixture(scope="module")
def split():
    df, _, _ = data.synthetic_interactions(n_users=300, n_items=120, seed=0)
    return data.split_per_user(df, seed=0)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    return tmp_path


def test_seed_everything_reads_the_environment(monkeypatch):
    monkeypatch.setenv("TINYREC_SEED", "7")
    assert train.seed_everything() == 7
    first = torch.rand(3)
    train.seed_everything(7)
    assert torch.equal(first, torch.rand(3))
    for bad in (-1, 1.5, "7"):
        with pytest.raises(ValueError, match="seed"):
            train.seed_everything(bad)


def test_ease_has_zero_diagonal_and_solves_its_normal_equations(split):
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


def test_models_learn_the_planted_groups(split):
    pop = models.Popularity(split.n_items).fit(split.matrix("train"))
    ease = models.EASE(split.n_items, lam=50.0).fit(split.matrix("train"))
    bpr, history = train.train_bpr(split, dim=8, lr=0.01, max_epochs=60, patience=10, seed=0, progress=False)
    results = {name: evaluate.evaluate(m, split, "test")["ndcg@10"] for name, m in
               [("pop", pop), ("ease", ease), ("bpr", bpr)]}
    assert results["ease"] > 1.2 * results["pop"], results
    assert results["bpr"] > 1.2 * results["pop"], results
    best = max(h["valid_ndcg@10"] for h in history)
    assert evaluate.evaluate(bpr, split, "valid")["ndcg@10"] == pytest.approx(best, abs=1e-6)


def test_negatives_never_hit_positives():
    positives = torch.zeros(4, 6, dtype=torch.bool)
    positives[:, :5] = True  # each user has one negative only: item 5
    users = torch.arange(4).repeat(50)
    negatives = train.sample_negatives(users, positives, torch.Generator().manual_seed(0))
    assert torch.all(negatives == 5)


def test_evaluation_excludes_seen_items(split):
    seen = evaluate.seen_items(split, "test")
    assert torch.equal(seen, split.mask("train") | split.mask("valid"))
    with pytest.raises(ValueError, match="part"):
        evaluate.seen_items(split, "train")


def test_cache_returns_the_same_model_without_training(split, cache):
    first, history = train.trained_bpr(split, dim=4, seed=1, max_epochs=3, progress=False)
    calls = []
    again, _ = train.cached("bpr", {"dim": 4, "seed": 1, "max_epochs": 3}, split,
                            fit=lambda: calls.append(1), build=lambda: models.BPRMF(split.n_users, split.n_items, 4))
    assert not calls and len(history) == 3
    assert torch.equal(first.item.weight, again.item.weight)
    assert len(list((cache / "models").glob("bpr-*.pt"))) == 1
    train.trained_bpr(split, dim=4, seed=2, max_epochs=3, progress=False)  # another seed: another entry
    assert len(list((cache / "models").glob("bpr-*.pt"))) == 2


class _Exploit:
    def __reduce__(self):
        return (exec, ("raise SystemExit('arbitrary code ran')",))


def test_cache_never_executes_code_from_a_checkpoint(split, cache):
    path = train.cache_path("ease", {"lam": 300.0}, split)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"state_dict": _Exploit(), "history": []}))
    with pytest.raises(pickle.UnpicklingError):
        train.trained_ease(split, lam=300.0)


def test_distilled_students_are_cached_per_method_and_learn(split, cache):
    plain, _ = train.trained_student(split, method=None, dim=8, seed=0, lr=0.01, max_epochs=40, progress=False)
    student, history = train.trained_student(split, method="listwise", dim=8, seed=0, temperature=0.05, alpha=0.8,
                                             teacher_lam=50.0, lr=0.01, max_epochs=40, progress=False)
    pop = models.Popularity(split.n_items).fit(split.matrix("train"))
    assert evaluate.evaluate(student, split)["ndcg@10"] > 1.2 * evaluate.evaluate(pop, split)["ndcg@10"]
    names = sorted(p.name.split("-")[0] for p in (cache / "models").glob("*.pt"))
    assert names == ["bpr", "ease", "student"]  # the plain student is the ordinary BPR model
    again, _ = train.trained_student(split, method="listwise", dim=8, seed=0, temperature=0.05, alpha=0.8,
                                     teacher_lam=50.0, lr=0.01, max_epochs=40, progress=False)
    assert torch.equal(again.user.weight, student.user.weight)
    with pytest.raises(ValueError, match="alpha"):
        train.train_bpr(split, dim=4, alpha=0.5, progress=False)
