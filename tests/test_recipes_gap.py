"""Lab 4b's pieces: the listwise target's entropy and the temperature that matches it (tinyrec.distill),
the teacher assistant's size, and the recipes of the capacity-gap sweep (any teacher, one tuning budget)."""

import math

import pytest
import torch

from tinyrec import distill, evaluate, models, recipes


def test_target_entropy_is_log_of_the_items_left_for_a_flat_teacher():
    scores = torch.zeros(3, 8)
    exclude = torch.zeros(3, 8, dtype=torch.bool)
    exclude[0, :4] = True  # row 0 keeps 4 items, rows 1-2 keep 8
    assert distill.target_entropy(scores, 0.5, exclude) == pytest.approx((math.log(4) + 2 * math.log(8)) / 3)
    assert distill.target_entropy(scores, 0.5) == pytest.approx(math.log(8))


def test_target_entropy_grows_with_temperature_towards_uniform():
    scores = torch.randn(5, 20, generator=torch.Generator().manual_seed(0))
    entropies = [distill.target_entropy(scores, t) for t in (0.01, 0.1, 1.0, 10.0, 1e4)]
    assert entropies == sorted(entropies) and entropies[0] < 0.1
    assert entropies[-1] == pytest.approx(math.log(20), abs=1e-6)


def test_target_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        distill.target_entropy(torch.zeros(2, 3), 0)
    with pytest.raises(ValueError, match="teacher_scores must be a 2-D floating tensor"):
        distill.target_entropy(torch.zeros(3), 1.0)
    with pytest.raises(ValueError, match="exclude leaves no item"):
        distill.target_entropy(torch.zeros(2, 3), 1.0, exclude=torch.ones(2, 3, dtype=torch.bool))


def test_matched_temperature_carries_a_temperature_over_to_another_scale():
    scores = torch.randn(6, 30, generator=torch.Generator().manual_seed(1))
    exclude = torch.rand(6, 30, generator=torch.Generator().manual_seed(2)) < 0.3
    reference = distill.target_entropy(scores, 0.2, exclude)
    assert distill.matched_temperature(scores, reference, exclude) == pytest.approx(0.2, rel=1e-4)
    # a teacher whose scores are 7 times larger needs a 7 times larger temperature for the same target
    assert distill.matched_temperature(7 * scores, reference, exclude) == pytest.approx(1.4, rel=1e-4)


def test_matched_temperature_rejects_an_entropy_out_of_reach():
    scores = torch.randn(2, 5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"entropy must lie between .* got 2\.0"):
        distill.matched_temperature(scores, 2.0)  # above log(5) = 1.61: no temperature spreads it wider
    with pytest.raises(ValueError, match="steps must be a positive integer, got 0"):
        distill.matched_temperature(scores, 1.0, steps=0)


@pytest.mark.parametrize("teacher, student, per_dim, expected", [
    (2_829_124, 10_500, 2_625, 66),  # EASE to BPR-MF d = 4 on MovieLens-100k: ratios 16.3 and 16.5
    (672_000, 10_500, 2_625, 32),  # d = 256 to d = 4: the geometric midpoint of the dimensions
    (610, 100, 100, 3),  # midpoint 2.47 rounds to 2 (ratios 3.05 and 2), but d = 3 (2.03 and 3) is more even
    (400, 100, 100, 2),  # an exact midpoint
])
def test_assistant_dim_balances_the_two_ratios(teacher, student, per_dim, expected):
    assert distill.assistant_dim(teacher, student, per_dim) == expected


def test_assistant_dim_rejects_bad_sizes():
    with pytest.raises(ValueError, match="teacher_params must exceed student_params, got 100 and 100"):
        distill.assistant_dim(100, 100, 10)
    with pytest.raises(ValueError, match="params_per_dim must be a positive integer, got 0"):
        distill.assistant_dim(1000, 100, 0)
    with pytest.raises(ValueError, match="student_params must be a positive integer, got 2.5"):
        distill.assistant_dim(1000, 2.5, 10)


@pytest.mark.parametrize("spec", [None, "ease", {"kind": "ease", "dim": 8}, {"kind": "bpr"},
                                  {"kind": "mlp", "dim": 8}, {"kind": "bpr", "dim": 8, "lr": 0.1},
                                  {"kind": "student", "dim": 8, "lr": 0.1},
                                  {"kind": "student", "dim": 8, "lr": 0.1, "teacher": {"kind": "bpr"}}])
def test_teacher_specs_are_checked(synthetic_split, spec):
    with pytest.raises(ValueError, match="teacher must be"):
        recipes.teacher_model(synthetic_split, spec)


def test_teacher_model_names_the_cached_models(synthetic_split, isolated_cache, monkeypatch):
    split = synthetic_split
    ease = recipes.teacher_model(split, {"kind": "ease"})
    assert isinstance(ease, models.EASE) and ease is not None
    bpr = recipes.teacher_model(split, {"kind": "bpr", "dim": 4}, seed=1)
    same = recipes.trained_bpr(split, dim=4, seed=1, progress=False)[0]
    assert torch.equal(bpr.item.weight, same.item.weight)
    monkeypatch.setattr(recipes, "GAP_TRAINING", {"max_epochs": 5, "patience": 3})
    assistant = recipes.teacher_model(split, {"kind": "student", "dim": 4, "lr": 0.01, "teacher": {"kind": "ease"}},
                                      seed=1)
    same = recipes.distilled_student(split, {"kind": "ease"}, 4, seed=1, progress=False, lr=0.01, max_epochs=5,
                                     patience=3)[0]
    assert torch.equal(assistant.item.weight, same.item.weight)
    control = recipes.teacher_model(split, {"kind": "student", "dim": 4, "lr": 0.01, "teacher": None}, seed=1)
    plain = recipes.trained_bpr(split, dim=4, seed=1, progress=False, lr=0.01, max_epochs=5, patience=3)[0]
    assert torch.equal(control.item.weight, plain.item.weight)
    assert not torch.equal(control.item.weight, assistant.item.weight)


def test_listwise_temperature_matches_the_ease_targets_entropy(synthetic_split, isolated_cache):
    split = synthetic_split
    assert recipes.listwise_temperature(split, {"kind": "ease"}) == recipes.LISTWISE_KD["temperature"]
    teacher = {"kind": "bpr", "dim": 4}
    temperature = recipes.listwise_temperature(split, teacher, seed=0)
    seen = split.mask("train")
    reference = distill.target_entropy(evaluate.score_all(recipes.trained_ease(split), split),
                                       recipes.LISTWISE_KD["temperature"], seen)
    scores = evaluate.score_all(recipes.teacher_model(split, teacher, seed=0), split)
    assert distill.target_entropy(scores, temperature, seen) == pytest.approx(reference, rel=1e-4)


def test_distilled_student_learns_from_any_teacher_and_is_cached(synthetic_split, isolated_cache):
    split = synthetic_split
    pop = evaluate.ndcg(models.Popularity(split.n_items).fit(split.matrix("train")), split)
    students = {}
    for name, teacher in (("ease", {"kind": "ease"}), ("bpr", {"kind": "bpr", "dim": 8})):
        students[name], history = recipes.distilled_student(split, teacher, 4, seed=0, progress=False, lr=0.01,
                                                             max_epochs=20)
        assert evaluate.ndcg(students[name], split) > 1.2 * pop
        assert students[name].item.weight.shape == (split.n_items, 4) and history[0]["epoch"] == 0
    assert not torch.equal(students["ease"].user.weight, students["bpr"].user.weight)
    again, _ = recipes.distilled_student(split, {"kind": "ease"}, 4, seed=0, progress=False, lr=0.01, max_epochs=20)
    assert torch.equal(again.user.weight, students["ease"].user.weight)
    assert len(list((isolated_cache / "models").glob("distilled-*.pt"))) == 2
    with pytest.raises(ValueError, match="teacher must be"):
        recipes.distilled_student(split, {"kind": "ease", "dim": 4}, 4)


def test_gap_students_share_one_budget(synthetic_split, isolated_cache, monkeypatch):
    split = synthetic_split
    monkeypatch.setattr(recipes, "GAP_TRAINING", {"max_epochs": 8, "patience": 3})
    plain, lr = recipes.tuned_gap_student(split, 4, seed=0, learning_rates=(1e-3, 3e-2))
    valid = {r: evaluate.ndcg(recipes.gap_student(split, 4, seed=0, lr=r)[0], split, "valid") for r in (1e-3, 3e-2)}
    assert lr == max(valid, key=valid.get)
    same = recipes.trained_bpr(split, dim=4, seed=0, progress=False, lr=lr, max_epochs=8, patience=3)[0]
    assert torch.equal(plain.user.weight, same.user.weight)  # the plain student is the ordinary BPR model
    distilled, kd_lr = recipes.tuned_gap_student(split, 4, {"kind": "ease"}, seed=0, learning_rates=(1e-3, 3e-2))
    assert kd_lr in (1e-3, 3e-2) and len(recipes.gap_student(split, 4, {"kind": "ease"}, 0, kd_lr)[1]) <= 9
    with pytest.raises(ValueError, match="learning_rates must name at least one"):
        recipes.tuned_gap_student(split, 4, learning_rates=())
