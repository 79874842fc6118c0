"""tinyrec.exercises.honest_comparison: check_honest_comparison (Exercise 2.5) passes a correct answer and
names each known mistake of choosing a winner among trained runs."""

import pandas as pd
import pytest

from tinyrec.exercises import honest_comparison as exercise
from tinyrec.exercises.honest_comparison import (
    check_honest_comparison,
    honest_winner_reference,
)

from . import assert_names, fails_with, stub

VALID, TEST = "validation NDCG@10", "test NDCG@10"


def winner(runs, budget, on_setting=VALID, on_winner=VALID, fits=lambda p, b: p <= b, by="max", report=TEST,
           refuse=True, message=None):
    """honest_winner written as a learner would, in plain pandas, with the given mistakes (none by default)."""
    counts = runs.groupby("model").size()
    if refuse and counts.nunique() > 1:
        raise ValueError(message or f"unequal tuning budgets: {counts.to_dict()}")
    eligible = runs[fits(runs["parameters"], budget)]
    if eligible.empty:
        raise ValueError("no model fits the budget")
    best = {}
    for model, group in eligible.groupby("model"):
        ordered = group.sort_values(on_setting, ascending=(by == "min"))
        best[model] = ordered.iloc[0]
    scores = {model: row[on_winner] for model, row in best.items()}
    if by == "mean":
        scores = eligible.groupby("model")[VALID].mean().to_dict()
    name = (min if by == "min" else max)(scores, key=scores.get)
    return name, best[name]["lr"], best[name][report]


def with_(**mistakes):
    def honest_winner(runs, budget):
        return winner(runs, budget, **mistakes)
    return honest_winner


def test_check_honest_comparison_passes_a_correct_answer(capsys):
    check_honest_comparison(with_())
    out = capsys.readouterr().out
    assert "Correct! honest_winner agrees with honest_winner_reference" in out
    assert "unequal tuning budgets are refused" in out


def test_the_reference_passes_its_own_check(capsys):
    check_honest_comparison(honest_winner_reference)
    assert "Correct!" in capsys.readouterr().out


def best_test_of_winner(runs, budget, lr_from_test=True):
    name, lr, _ = winner(runs, budget)
    mine = runs[runs["model"] == name]
    row = mine.loc[mine[TEST].idxmax()]
    return name, row["lr"] if lr_from_test else lr, row[TEST]


def adds_a_column(runs, budget):
    runs["fits"] = runs["parameters"] <= budget
    return winner(runs, budget)


@pytest.mark.parametrize("fn, message", [
    (with_(on_setting=TEST, on_winner=TEST), "It chose on test: the run with the highest test NDCG@10"),
    (with_(on_winner=TEST), "but the winner on test"),
    (best_test_of_winner, "its learning rate and number are those of its best *test* run"),
    (lambda runs, budget: best_test_of_winner(runs, budget, lr_from_test=False),
     "the number is the winner's best test NDCG@10 over all its learning rates"),
    (with_(report=VALID), "It returned the winner's *validation* NDCG@10"),
    (with_(by="mean"), "mean validation NDCG@10 over the learning rates"),
    (with_(by="min"), "It chose the *lowest* validation NDCG@10"),
    (with_(fits=lambda p, b: p.notna()), "It ignored the budget"),
    (with_(fits=lambda p, b: p < b), "A model with exactly `budget` parameters was dropped"),
    (with_(refuse=False), ("instead of raising ValueError: the models had different tuning budgets, 'd=16' 2 "
                           "runs, 'frequency-aware' 4 runs")),
    (with_(message="unequal tuning budgets"), "which does not name every model with its number of runs"),
    (lambda runs, budget: list(winner(runs, budget))[:2], "return a tuple (model, lr, test NDCG@10)"),
    (lambda runs, budget: dict(zip(["model", "lr", TEST], winner(runs, budget))), "it returned {'model'"),
    (lambda runs, budget: (1, *winner(runs, budget)[1:]), "is not a model's name"),
    (lambda runs, budget: (*winner(runs, budget)[:2], "0.3"), "the test NDCG@10, '0.3', is not a number"),
    (adds_a_column, "it modified runs in place"),
    (lambda runs, budget: winner(runs, budget)[:2] + (0.5,), "expected ('P', 0.001, 0.3000), got ('P', 0.001, 0.5000)"),
])
def test_check_honest_comparison_names_the_mistake(fn, message):
    assert_names(fails_with(check_honest_comparison, fn), message)


def test_check_honest_comparison_refuses_a_check_that_ignores_one_model():
    """Comparing only the first two models' counts misses the third model's missing run."""
    def first_two(runs, budget):
        counts = runs.groupby("model", sort=False).size()
        if counts.iloc[0] != counts.iloc[1]:
            raise ValueError(f"unequal tuning budgets: {counts.to_dict()}")
        return winner(runs, budget, refuse=False)
    text = fails_with(check_honest_comparison, first_two)
    assert_names(text, "instead of raising ValueError")
    assert text.startswith("Case 'three models, one of them tried at 2 learning rates")


def test_check_honest_comparison_explains_an_unwanted_value_error():
    def refuses_all(runs, budget):
        raise ValueError("I refuse")
    assert_names(fails_with(check_honest_comparison, refuses_all), "it raised ValueError('I refuse'), but every model")


def test_check_honest_comparison_explains_an_index_error_when_nothing_fits():
    def first_row(runs, budget):
        if runs.groupby("model").size().nunique() > 1:
            raise ValueError(f"unequal: {runs.groupby('model').size().to_dict()}")
        eligible = runs[runs["parameters"] <= budget].sort_values(VALID, ascending=False)
        row = eligible.iloc[0]
        return row["model"], row["lr"], row[TEST]
    assert_names(fails_with(check_honest_comparison, first_row), "it raised IndexError")


def test_each_mistake_is_named_on_the_first_case_it_changes():
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    for k, (mistake, text) in enumerate(exercise.MISTAKES):
        _, runs, budget, _ = next(case for case in exercise.CASES
                                     if not exercise.same_answer(mistake(case[1], case[2]),
                                                                 honest_winner_reference(case[1], case[2])))
        value = mistake(runs, budget)
        assert not any(exercise.same_answer(value, earlier(runs, budget)) for earlier, _ in exercise.MISTAKES[:k]), text


def test_reference_refuses_unequal_budgets_and_names_them():
    runs = pd.DataFrame([("a", 1e-3, 10, 0.3, 0.2), ("a", 1e-2, 10, 0.31, 0.2), ("b", 1e-3, 10, 0.4, 0.3)],
                        columns=exercise.COLUMNS)
    with pytest.raises(ValueError, match="'a' has 2 runs, 'b' has 1 runs"):
        honest_winner_reference(runs, 100)
    with pytest.raises(ValueError, match="no model has at most 5 parameters"):
        honest_winner_reference(runs[runs["model"] == "a"], 5)
    assert honest_winner_reference(runs[runs["model"] == "a"], 10) == ("a", 1e-2, 0.2)


def test_check_honest_comparison_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_honest_comparison(stub)
