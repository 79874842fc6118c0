"""tinyrec.zoo: the served forms score like the models they come from and ship fewer bytes; the later chapters' models
are chosen by the rules their labs used, and optional ones are loaded, never trained."""

import pytest
import torch

from tinyrec import adaptive, cache, evaluate, measure, models, pipeline, prune, quantize, recipes, zoo


@pytest.fixture(scope="module")
def weight_and_history():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(200, 200, generator=generator)
    history = (torch.rand(16, 200, generator=generator) < 0.1).float()
    return weight, history


@pytest.mark.parametrize("form, tolerance", [("int8", 1e-4), ("int4", 1e-4), ("csr", 1e-4), ("torchao-int8", 0.3)])
def test_item_item_forms_score_as_their_compact_matrix(weight_and_history, form, tolerance):
    weight, history = weight_and_history
    compact = {"int8": lambda: quantize.quantize_rows(weight, 8).dequantize(),
               "int4": lambda: quantize.quantize_rows(weight, 4).dequantize(),
               "csr": lambda: prune.magnitude_prune(weight, 0.9), "torchao-int8": lambda: weight}[form]()
    reference = history @ compact
    served = zoo.ItemItem(prune.magnitude_prune(weight, 0.9) if form == "csr" else weight, form)
    with torch.no_grad():
        scores = served(torch.arange(16), history)
    assert (scores - reference).abs().max() < tolerance
    assert measure.saved_bytes(served.artefact()) < measure.saved_bytes({"weight": weight}) / 1.9


def test_item_item_rejects_an_unknown_form(weight_and_history):
    with pytest.raises(ValueError, match="form must be"):
        zoo.ItemItem(weight_and_history[0], "int2")


def test_quantized_mf_scores_with_the_dequantized_tables():
    mf = models.BPRMF(30, 50, dim=8)
    served = zoo.QuantizedMF(mf, 8)
    users = torch.tensor([3, 0, 29])
    expected = quantize.quantize_rows(mf.user.weight.detach(), 8).dequantize()[users] @ \
        quantize.quantize_rows(mf.item.weight.detach(), 8).dequantize().T
    assert torch.allclose(served(users), expected, atol=1e-5)


def test_recommend_never_returns_a_seen_item(weight_and_history):
    weight, history = weight_and_history
    served = zoo.Served("dense", "test", models.with_weights(models.EASE(200), {"weight": weight}), {"weight": weight},
                        weight.numel())
    top = served.recommend(torch.arange(16), history, k=10)
    assert top.shape == (16, 10) and not history.gather(1, top).any()
    assert served.bytes > weight.nbytes


@pytest.fixture(scope="module")
def students(synthetic_split):
    """Untrained BPR-MF "students" of d = 16 and 32 on the synthetic split (the selection rules need no training)."""
    torch.manual_seed(0)
    return {dim: models.BPRMF(synthetic_split.n_users, synthetic_split.n_items, dim) for dim in (16, 32)}


def test_deployable_student_is_the_best_on_validation_of_those_small_enough(synthetic_split, students):
    grid = pipeline.candidates(students)
    sizes = {setting: measure.saved_bytes(model.artefact()) for setting, model in grid.items()}
    teacher_bytes = sorted(sizes.values())[len(sizes) // 2] * zoo.DEPLOY_RATIO  # about half the grid is eligible
    served = zoo.deployable_student(synthetic_split, 0, teacher_bytes, students)
    eligible = [s for s in grid if sizes[s] * zoo.DEPLOY_RATIO <= teacher_bytes]
    best = max(evaluate.ndcg(grid[s], synthetic_split, "valid") for s in eligible)
    assert 0 < len(eligible) < len(grid)
    assert served.bytes * zoo.DEPLOY_RATIO <= teacher_bytes
    assert evaluate.ndcg(served.model, synthetic_split, "valid") == best
    assert served.name.startswith("pipeline: KD d=") and served.parameters == served.model.rank * (300 + 120)
    with pytest.raises(ValueError, match="no compressed student"):
        zoo.deployable_student(synthetic_split, 0, 1000, students)


def test_equal_bytes_tables_fit_the_budget_of_a_uniform_d16_int4_table(synthetic_split, students):
    uniform, mixed = zoo.equal_bytes_tables(synthetic_split, 0, students)
    for n, table in ((synthetic_split.n_users, "user"), (synthetic_split.n_items, "item")):
        budget = adaptive.uniform_bytes(n, 16, 4)
        assert getattr(uniform.model, table).nbytes <= budget and getattr(mixed.model, table).nbytes <= budget
    assert uniform.name.startswith("uniform: ") and mixed.name.startswith("adaptive: ")
    assert isinstance(mixed.model, adaptive.MixedMF) and 0 < mixed.parameters < uniform.parameters * 4
    history = synthetic_split.mask("train")[:8].float()
    assert not history.gather(1, mixed.recommend(torch.arange(8), history)).any()


def test_capacity_gap_students_are_loaded_never_trained(synthetic_split, isolated_cache):
    recipes.trained_ease(synthetic_split)  # the teacher is cached, the students are not
    before = sorted(isolated_cache.rglob("*.pt"))
    with pytest.raises(cache.NotCached, match="is not cached"):
        zoo.capacity_gap_students(synthetic_split, 0)
    assert sorted(isolated_cache.rglob("*.pt")) == before


def test_later_models_lists_what_it_left_out(synthetic_split, students, monkeypatch):
    def not_cached(split, seed):
        raise cache.NotCached("distilled {...} is not cached")

    teacher = zoo.Served("teacher", "teacher", models.Popularity(120), {}, 0)
    monkeypatch.setattr(zoo, "kd_students", lambda split, seed: [teacher])
    monkeypatch.setattr(zoo, "topk_label_student", lambda split, seed: teacher)
    monkeypatch.setattr(zoo, "capacity_gap_students", not_cached)
    monkeypatch.setattr(pipeline, "students", lambda split, seed: students)
    served, skipped = zoo.later_models(synthetic_split, 0, 10 ** 9)
    assert [m.family for m in served][2:] == ["distilled + pruned + quantized", "distilled + quantized",
                                              "distilled + adaptive"]
    assert len(skipped) == 1 and "Lab 4b" in skipped[0] and "is not cached" in skipped[0]
