"""tinyrec.exercises.teacher_subset: check_teacher_subset (Exercise 5.3) passes a correct answer and names
each known mistake of keeping the share of each user's interactions the teacher scores highest."""

import math

import numpy as np
import pandas as pd
import pytest

from tinyrec.exercises import teacher_subset as exercise
from tinyrec.exercises.teacher_subset import check_teacher_subset

from . import assert_names, fails_with, stub


def scored(train, teacher_scores):
    """``train``'s pairs with their teacher score."""
    users, items = train["user"].to_numpy(copy=True), train["item"].to_numpy(copy=True)
    return train[["user", "item"]].assign(score=teacher_scores.double().numpy()[users, items])


def keep(ranked, count):
    """The first ``count(n_u)`` rows of each user of ``ranked``."""
    sizes = ranked.groupby("user")["user"].transform("size")
    return ranked[ranked.groupby("user").cumcount() < count(sizes)][["user", "item"]].reset_index(drop=True)


def teacher_subset(train, teacher_scores, fraction):
    ranked = scored(train, teacher_scores).sort_values(["user", "score", "item"], ascending=[True, False, True])
    return keep(ranked, lambda n: np.maximum(1, np.ceil(fraction * n)))


def by_score(train, teacher_scores, ascending=False, items_ascending=True):
    return scored(train, teacher_scores).sort_values(["user", "score", "item"],
                                                     ascending=[True, ascending, items_ascending])


def global_top(train, teacher_scores, fraction):
    ranked = scored(train, teacher_scores).sort_values(["score", "item"], ascending=[False, True])
    return ranked.head(math.ceil(fraction * len(train)))[["user", "item"]]


def top_unseen(train, teacher_scores, fraction):
    scores = teacher_scores.clone()
    scores[train["user"].to_numpy(copy=True), train["item"].to_numpy(copy=True)] = -math.inf
    rows = [(u, i) for u, n in train.groupby("user").size().items()
            for i in scores[u].topk(math.ceil(fraction * n)).indices.tolist()]
    return pd.DataFrame(rows, columns=["user", "item"])


def test_check_teacher_subset_passes_a_correct_answer(capsys):
    check_teacher_subset(teacher_subset)
    out = capsys.readouterr().out
    assert "Correct! teacher_subset agrees with tinyrec.subsample.keep_interactions" in out
    assert "ties at the cut" in out and "a single interaction" in out


def test_a_result_with_extra_columns_and_any_row_order_passes(capsys):
    def shuffled(train, teacher_scores, fraction):
        kept = teacher_subset(train, teacher_scores, fraction)
        return kept.assign(score=1.0).sample(frac=1.0, random_state=0)
    check_teacher_subset(shuffled)
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (global_top, "top share of *all* the interactions at once"),
    (lambda t, s, f: keep(by_score(t, s), lambda n: np.floor(f * n)), "with no minimum: a user with few"),
    (lambda t, s, f: keep(by_score(t, s), lambda n: np.maximum(1, np.floor(f * n))), "the count rounds down"),
    (lambda t, s, f: keep(by_score(t, s), lambda n: np.round(f * n)), "rounded fraction · n_u to the nearest"),
    (lambda t, s, f: keep(by_score(t, s, ascending=True), lambda n: np.maximum(1, np.ceil(f * n))),
     "*lowest* teacher scores"),
    (lambda t, s, f: keep(by_score(t, s), lambda n: math.ceil(f * s.shape[1])), "share of the whole catalogue"),
    (lambda t, s, f: keep(by_score(t, s, items_ascending=False), lambda n: np.maximum(1, np.ceil(f * n))),
     "Ties went to the higher item id"),
    (lambda t, s, f: keep(t, lambda n: np.maximum(1, np.ceil(f * n))), "ignoring the teacher's scores"),
    (top_unseen, "the teacher's recommendation, not a subset of the data"),
    (lambda t, s, f: pd.concat([top_unseen(t, s, f).head(1), teacher_subset(t, s, f)]),
     "pairs that are not training interactions, e.g. "),
    (lambda t, s, f: pd.concat([teacher_subset(t, s, f)] * 2), "distinct (user, item) pairs: keep each once"),
    (lambda t, s, f: teacher_subset(t, s, f).to_numpy(), "it returned a ndarray"),
    (lambda t, s, f: teacher_subset(t, s, f).rename(columns={"item": "item_id"}), "with columns ['user', 'item_id']"),
    (lambda t, s, f: teacher_subset(t, s, f).astype(float), "keep user and item as the integer indices"),
    (lambda t, s, f: teacher_subset(t, s, f).query("user != 1"), "users [1] kept nothing"),
    (lambda t, s, f: teacher_subset(t, s, f).iloc[1:], "expected (0, 4), (0, 9), (1, 3), (1, 10), (2, 5); it missed (0, 4)."),
])
def test_check_teacher_subset_names_each_mistake(fn, message):
    assert_names(fails_with(check_teacher_subset, fn), message)


@pytest.mark.parametrize("position", range(len(exercise.MISTAKES)))
def test_each_mistake_is_named_on_the_first_case_it_changes(position):
    """No earlier mistake in the list hides it there (the check names the first one that matches)."""
    mistake, text = exercise.MISTAKES[position]
    for _, make, fraction, _ in exercise.CASES:
        train, scores = make()
        expected = exercise._pairs(teacher_subset(train, scores, fraction))
        value = mistake(train, scores, fraction)
        if value != expected:
            assert not any(earlier(train, scores, fraction) == value for earlier, _ in exercise.MISTAKES[:position])
            return
    pytest.fail(f"no case tells this mistake from the answer: {text}")


def test_the_cases_have_a_single_interaction_user_and_a_tie():
    (_, first, _, _), (_, tie, _, _), _ = exercise.CASES
    train, _ = first()
    assert train.groupby("user").size().min() == 1
    train, scores = tie()
    assert scored(train, scores).duplicated(["user", "score"]).any()


def test_check_teacher_subset_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_teacher_subset(stub)


def test_the_check_hands_the_learner_copies(capsys):
    """A learner who sorts or edits train and teacher_scores in place does not change the next case."""
    def in_place(train, teacher_scores, fraction):
        kept = teacher_subset(train, teacher_scores, fraction)
        train.loc[:, "item"] = 0
        teacher_scores.zero_()
        return kept
    check_teacher_subset(in_place)
    assert "Correct!" in capsys.readouterr().out
