"""Exercise 2.5 (``02_exercise_honest_comparison``): choosing the winner of a comparison honestly.

The learner writes ``honest_winner(runs, budget)``: ``runs`` has one row per trained run (columns ``model``,
``lr``, ``parameters``, ``validation NDCG@10``, ``test NDCG@10``); the function refuses a comparison in which
the models had different tuning budgets (numbers of runs), drops the models over the parameter budget, chooses
each model's run and then the winner on validation NDCG@10 only, and returns ``(model, lr, test NDCG@10)`` of
the chosen run. :func:`honest_winner_reference` is the reference (nothing in :mod:`tinyrec` chooses among runs,
so it is written here, in pandas); each known mistake is :func:`_choose` with one part changed.

:func:`check_honest_comparison` runs the learner's function on hand-made tables built so that each mistake
gives its own answer: chose on test (everything, or only the winner), reported the winner's best test number
over its learning rates, reported the validation number, compared the models by their mean over learning
rates, sorted ascending (the worst run), ignored the budget, used ``<`` at the budget; and, on tables with
unequal tuning budgets, did not raise ``ValueError`` (or raised one that does not name the models and their
numbers of runs).
"""

import numbers
import operator

import pandas as pd

from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake

__all__ = ["COLUMNS", "check_honest_comparison", "honest_winner_reference"]

VALID, TEST = "validation NDCG@10", "test NDCG@10"
COLUMNS = ["model", "lr", "parameters", VALID, TEST]


def runs_per_model(runs):
    """The number of runs (settings tried) of each model: a ``pd.Series`` indexed by model."""
    return runs.groupby("model", sort=False).size()


def _choose(runs, budget, fits=operator.le, setting_by=VALID, winner_by=VALID, score="chosen", pick="idxmax",
            report=TEST):
    """``(model, lr, number)`` chosen from ``runs``: the models whose parameters ``fits`` the budget; each
    model's run by ``setting_by``; the winner by ``winner_by`` of its chosen run (or by the ``score="mean"``
    of its runs); ``pick`` is ``"idxmax"`` (or ``"idxmin"``); ``report`` is the column returned. Raises
    ValueError when no model fits the budget."""
    eligible = runs[fits(runs["parameters"], budget)]
    if eligible.empty:
        raise ValueError(f"no model has at most {budget:,} parameters")
    chosen = eligible.loc[getattr(eligible.groupby("model")[setting_by], pick)()].set_index("model")
    scores = chosen[winner_by] if score == "chosen" else eligible.groupby("model")[winner_by].mean()
    winner = getattr(scores, pick)()
    return winner, float(chosen.loc[winner, "lr"]), float(chosen.loc[winner, report])


def honest_winner_reference(runs, budget):
    """The honest comparison: ``ValueError`` unless every model in ``runs`` has the same number of runs;
    then, among the models with at most ``budget`` parameters, each model's run with the highest validation
    NDCG@10, the model whose chosen run has the highest validation NDCG@10, and its ``(model, lr, test
    NDCG@10)``. ``ValueError`` when no model fits the budget."""
    counts = runs_per_model(runs)
    if counts.nunique() > 1:
        raise ValueError("unequal tuning budgets: " + ", ".join(f"{m!r} has {n} runs" for m, n in counts.items()))
    return _choose(runs, budget)


def _winner_then_best_test(runs, budget, lr_from="test"):
    """The right winner, with its best test NDCG@10 over its runs (and that run's lr, or the lr chosen on
    validation)."""
    winner, lr, _ = _choose(runs, budget)
    mine = runs[runs["model"] == winner]
    best = mine.loc[mine[TEST].idxmax()]
    return winner, float(best["lr"]) if lr_from == "test" else lr, float(best[TEST])


ON_TEST = ("The test items are then part of the choice: the number you report is the best of several noisy "
           "numbers, higher than what the chosen model will score on new data: the test set no longer gives "
           "an unbiased estimate.")
MISTAKES = [  # (what fn(runs, budget) returns with this mistake, the diagnosis)
    (lambda runs, budget: _choose(runs, budget, setting_by=TEST, winner_by=TEST),
     ("It chose on test: the run with the highest test NDCG@10. " + ON_TEST + " Choose each model's learning "
      "rate, and then the winner, on validation NDCG@10; read the test number of the chosen run once.")),
    (lambda runs, budget: _choose(runs, budget, winner_by=TEST),
     ("Each model's learning rate was chosen on validation, but the winner on test. Choosing the winner is a "
      "choice too: " + ON_TEST + " (A table of every model's test number is fine; the claim 'this one wins' "
      "is a selection, made on validation.)")),
    (_winner_then_best_test,
     ("The winner is right, but its learning rate and number are those of its best *test* run: " + ON_TEST
      + " Report the test NDCG@10 of the run chosen on validation.")),
    (lambda runs, budget: _winner_then_best_test(runs, budget, lr_from="validation"),
     ("The winner and its learning rate are right, but the number is the winner's best test NDCG@10 over all "
      "its learning rates: report the test NDCG@10 of the chosen run, the one with the best validation "
      "NDCG@10.")),
    (lambda runs, budget: _choose(runs, budget, report=VALID),
     ("It returned the winner's *validation* NDCG@10. That number chose the winner, so it is optimistic: "
      "report the test NDCG@10 of the chosen run.")),
    (lambda runs, budget: _choose(runs, budget, score="mean"),
     ("It compared the models by their mean validation NDCG@10 over the learning rates. A model is used at "
      "its chosen learning rate, not at all of them: compare the validation NDCG@10 of each model's chosen "
      "run.")),
    (lambda runs, budget: _choose(runs, budget, pick="idxmin"),
     ("It chose the *lowest* validation NDCG@10 (sort_values sorts ascending by default): higher is better, "
      "use idxmax() or sort_values(..., ascending=False).")),
    (lambda runs, budget: _choose(runs, budget, fits=lambda parameters, _: parameters.notna()),
     ("It ignored the budget: a model with more parameters than the budget won. 'At equal bytes' means that "
      "every model compared fits the budget: drop the others before choosing.")),
    (lambda runs, budget: _choose(runs, budget, fits=operator.lt),
     "A model with exactly `budget` parameters was dropped: it fits the budget. Keep parameters <= budget."),
]

LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2)


def _table(models):
    """``runs`` from ``{model: (parameters, [(validation, test) at lr 1e-3, 3e-3, 1e-2 (, 3e-2)])}``."""
    return pd.DataFrame([(model, lr, parameters, valid, test)
                         for model, (parameters, results) in models.items()
                         for lr, (valid, test) in zip(LEARNING_RATES, results)], columns=COLUMNS)


CASES = [  # (name, runs, budget, hint)
    ("three models under the budget; validation and test disagree", _table({
        "P": (42_000, [(0.320, 0.300), (0.280, 0.335), (0.270, 0.310)]),
        "Q": (41_984, [(0.300, 0.330), (0.290, 0.345), (0.250, 0.290)]),
        "R": (40_000, [(0.310, 0.305), (0.308, 0.300), (0.306, 0.320)])}), 50_000,
     ("Each model's best validation run: P at lr 0.001 (0.320), Q at 0.001 (0.300), R at 0.001 (0.310). P's "
      "is the highest, so P wins, and its number is that run's test NDCG@10, 0.300.")),
    ("Lab 2c's layout: d=64 over the budget, d=16 exactly at it", _table({
        "d=64": (168_000, [(0.340, 0.330), (0.335, 0.325), (0.300, 0.310)]),
        "d=16": (42_000, [(0.310, 0.300), (0.315, 0.305), (0.290, 0.318)]),
        "frequency-aware": (41_984, [(0.305, 0.310), (0.312, 0.302), (0.280, 0.320)])}), 42_000,
     ("d=64 has 168,000 parameters, over the budget of 42,000: it is not in the comparison. d=16 has exactly "
      "42,000: it is. d=16's best validation run (0.315 at lr 0.003) beats frequency-aware's (0.312).")),
    ("d=16 against frequency-aware: validation and test rank them differently", _table({
        "d=16": (42_000, [(0.300, 0.290), (0.290, 0.300), (0.280, 0.310)]),
        "frequency-aware": (41_984, [(0.295, 0.300), (0.298, 0.296), (0.305, 0.285)])}), 42_000,
     ("frequency-aware's best validation run (0.305 at lr 0.01) beats d=16's (0.300 at lr 0.001), so "
      "frequency-aware wins, with the test NDCG@10 of that run, 0.285, although d=16's chosen run scores "
      "higher on test. That is an honest comparison: the choice is made before test is read.")),
]
UNEQUAL_CASES = [  # (name, runs, budget, hint)
    ("frequency-aware tried at 4 learning rates, d=16 at 2", _table({
        "d=16": (42_000, [(0.310, 0.300), (0.305, 0.298)]),
        "frequency-aware": (41_984, [(0.300, 0.295), (0.308, 0.301), (0.296, 0.290), (0.318, 0.299)])}), 42_000,
     "runs.groupby('model').size() counts each model's runs; raise when the counts differ."),
    ("three models, one of them tried at 2 learning rates instead of 3", _table({
        "d=16": (42_000, [(0.310, 0.300), (0.305, 0.298), (0.290, 0.280)]),
        "frequency-aware": (41_984, [(0.300, 0.295), (0.308, 0.301), (0.296, 0.290)]),
        "QR": (40_000, [(0.250, 0.240), (0.262, 0.250)])}), 50_000,
     "Compare the number of runs of every model, not only the total or the first two."),
]
NO_FIT = ("no model fits the budget", _table({
    "d=16": (42_000, [(0.310, 0.300), (0.305, 0.298), (0.290, 0.280)]),
    "frequency-aware": (41_984, [(0.300, 0.295), (0.308, 0.301), (0.296, 0.290)])}), 40_000,
    "Both models have more than 40,000 parameters: there is nothing to compare.")


def same_answer(a, b):
    """``(model, lr, number)`` answers that agree: the same model, the same lr, the same number up to rounding."""
    return a[0] == b[0] and same(a[1], b[1], rtol=1e-9, atol=0) and same(a[2], b[2], rtol=1e-6, atol=1e-9)


def _not_an_answer(result):
    """What is wrong when ``result`` is not a ``(model, lr, test NDCG@10)`` tuple, or None."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        size = f" of {len(result)} items" if isinstance(result, (tuple, list)) else ""
        return (f"it returned {result!r} ({type(result).__name__}{size}): return a tuple "
                "(model, lr, test NDCG@10).")
    model, lr, number = result
    if not isinstance(model, str):
        return f"the first item, {model!r}, is not a model's name (a str from the column 'model')."
    for label, value in (("lr", lr), ("test NDCG@10", number)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"the {label}, {value!r}, is not a number."
    return None


def _show(answer):
    return f"({answer[0]!r}, {answer[1]:g}, {answer[2]:.4f})"


def _call(name, runs, budget):
    table = runs.to_string(index=False, formatters={"lr": "{:g}".format, "parameters": "{:,}".format})
    return f"{name}(runs, budget={budget:,}) with runs =\n" + "\n".join("  " + line for line in table.split("\n")) + "\n"


def _run(fn, runs, budget):
    """``fn(runs, budget)``, and what is wrong if it modified ``runs``."""
    pristine = runs.copy()
    result = fn(runs, budget)
    touched = None if runs.equals(pristine) else ("it modified runs in place (added, dropped, sorted or changed "
                                                  "rows or columns): work on a copy, so that the caller's table "
                                                  "stays as it was.")
    return result, touched


def _check_case(fn, name, runs, budget, hint):
    expected = honest_winner_reference(runs, budget)
    try:
        result, problem = _run(fn, runs, budget)
    except ValueError as error:
        counts = ", ".join(f"{n} runs" for n in runs_per_model(runs).unique())
        raise case_error(name, _call(fn_name(fn), runs, budget),
                         f"it raised ValueError({str(error)!r}), but every model had the same tuning budget "
                         f"({counts}) and a model fits the budget: the answer is {_show(expected)}.", hint) from error
    problem = problem or _not_an_answer(result)
    if not problem and not same_answer(result, expected):
        problem = (which_mistake(result, MISTAKES, runs, budget, equal=same_answer)
                   or f"expected {_show(expected)}, got {_show(result)}.")
    if problem:
        raise case_error(name, _call(fn_name(fn), runs, budget), problem, hint)


def _check_refuses(fn, name, runs, budget, hint):
    counts = runs_per_model(runs)
    try:
        result, _ = _run(fn, runs, budget)
    except ValueError as error:
        missing = [f"{model!r} ({n})" for model, n in counts.items()
                   if model not in str(error) or str(n) not in str(error)]
        if missing:
            raise case_error(name, _call(fn_name(fn), runs, budget),
                             f"it raised ValueError({str(error)!r}), which does not name every model with its "
                             f"number of runs: missing {', '.join(missing)}. Say who had which budget, so that "
                             "the reader knows what to rerun.", hint) from error
        return
    shown = _show(result) if _not_an_answer(result) is None else repr(result)
    raise case_error(name, _call(fn_name(fn), runs, budget),
                     f"it returned {shown} instead of raising ValueError: the models had different tuning budgets, "
                     f"{', '.join(f'{m!r} {n} runs' for m, n in counts.items())}. A model tried at more learning "
                     "rates has more chances at a lucky validation number, and is better tuned: the comparison "
                     "measures the tuning budget as much as the models. Refuse it.", hint)


def _check_no_fit(fn, name, runs, budget, hint):
    try:
        result, _ = _run(fn, runs, budget)
    except ValueError:
        return
    except (KeyError, IndexError) as error:
        raise case_error(name, _call(fn_name(fn), runs, budget),
                         f"it raised {type(error).__name__} ({error}): when no model fits the budget, raise "
                         "ValueError saying so.", hint) from error
    raise case_error(name, _call(fn_name(fn), runs, budget),
                     f"it returned {result!r}, but no model has at most {budget:,} parameters: raise ValueError.",
                     hint)


def check_honest_comparison(honest_winner):
    """Check ``honest_winner(runs, budget) -> (model, lr, test NDCG@10)`` against
    :func:`honest_winner_reference` on hand-made tables: the choice and the number, ``ValueError`` when the
    models had unequal tuning budgets (naming the models and their numbers of runs) and when no model fits."""
    for name, runs, budget, hint in CASES:
        _check_case(honest_winner, name, runs.copy(), budget, hint)
    for name, runs, budget, hint in UNEQUAL_CASES:
        _check_refuses(honest_winner, name, runs.copy(), budget, hint)
    _check_no_fit(honest_winner, NO_FIT[0], NO_FIT[1].copy(), NO_FIT[2], NO_FIT[3])
    correct(fn_name(honest_winner), "honest_winner_reference (choose on validation, within the budget)",
            [case[0] for case in CASES] + [f"unequal tuning budgets are refused: {case[0]}" for case in UNEQUAL_CASES]
            + [NO_FIT[0] + ": ValueError"])
