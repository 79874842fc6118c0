"""tinyrec.exercises.temperature: check_temperature_choice (Exercise 1.4), on the real split and the EASE
teacher, with made-up results (no training)."""

import pytest

from tinyrec import evaluate, metrics
from tinyrec.exercises.temperature import check_temperature_choice

from . import fails_with, stub


def validation_ndcg_for(split, part="valid", metric="ndcg@10", k=10):
    def validation_ndcg(model):
        return evaluate.evaluate(model, split, part, k)[metric]
    return validation_ndcg


GOOD = {0.01: 0.238, 0.02: 0.238, 0.05: 0.240, 0.1: 0.232}


def test_check_temperature_choice_passes_a_correct_choice(split, teacher, capsys):
    check_temperature_choice(GOOD, 0.05, validation_ndcg_for(split), split, teacher)
    out = capsys.readouterr().out
    assert out.startswith("Correct! T = 0.05 has the highest NDCG@10 on the validation items")
    assert "T = 0.05   validation NDCG@10 = 0.2400   e^H = " in out and "movies   ← chosen" in out


def test_check_temperature_choice_names_the_mistake(split, teacher):
    cases = [  # (results, best_T, validation function, message)
        (GOOD, 0.05, validation_ndcg_for(split, "test"), "it measures the *test* items"),
        (GOOD, 0.05, validation_ndcg_for(split, metric="recall@10"), "it returned recall@10 on 'valid'"),
        (GOOD, 0.05, validation_ndcg_for(split, "test", "ndcg@20", 20), "it returned ndcg@20 on 'test'"),
        (GOOD, 0.05, lambda model: evaluate.evaluate(model, split, "valid"), "it returned a dict"),
        (GOOD, 0.05, lambda model: metrics.ndcg_at_k(evaluate.score_all(model, split), split.mask("valid"), 10)
         .mean().item(), "it ranks the users' training items too"),
        (GOOD, 0.1, validation_ndcg_for(split), "choose the temperature with the highest validation NDCG@10"),
        (GOOD, 0.2, validation_ndcg_for(split), "best_T = 0.2 is not one of the temperatures you tried"),
        ({0.02: 0.2, 0.05: 0.21}, 0.05, validation_ndcg_for(split), "at least 3 temperatures"),
        ({0.02: 0.05, 0.05: 0.21, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "results[0.02] = 0.0500 is outside"),
        ({0.02: 0.2, 0.05: 0.45, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "results[0.05] = 0.4500 is outside"),
        ({0.02: 0.2, 0.05: 0.2, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "every temperature gives the same"),
        ({0.02: 0.238, 0.05: 0.240, 1.0: 0.243}, 1.0, validation_ndcg_for(split),
         "T = 1 is far above the scale of the EASE teacher's scores"),
        ({-1: 0.2, 0.05: 0.21, 0.1: 0.2}, 0.05, validation_ndcg_for(split), "keys must be numbers > 0"),
    ]
    for results, best_T, fn, message in cases:
        text = fails_with(check_temperature_choice, results, best_T, fn, split, teacher)
        assert message in text and "\nHint: " in text, (message, text)


def test_check_temperature_choice_explains_a_nearly_uniform_target(split, teacher):
    text = fails_with(check_temperature_choice, {0.02: 0.238, 0.05: 0.240, 1.0: 0.243}, 1.0,
                      validation_ndcg_for(split), split, teacher)
    assert "the soft target is nearly uniform" in text and "a regulariser, like label smoothing" in text


def test_check_temperature_choice_lets_the_stub_raise(split, teacher):
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_temperature_choice(GOOD, 0.05, stub, split, teacher)
