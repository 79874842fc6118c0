"""Exercise 5.3 (``05_exercise_teacher_subset``): keep the share of each user's interactions the teacher
finds most typical.

:func:`check_teacher_subset` compares the learner's ``teacher_subset(train, teacher_scores, fraction)`` with
:func:`tinyrec.subsample.keep_interactions` (rule ``"teacher-typical"``), as sets of ``(user, item)`` pairs,
on three hand-made cases: three users, one of them with a single interaction; a tie at the cut; an EASE
teacher fitted on a small synthetic split. It first rejects a result that is not a DataFrame with columns
``user`` and ``item``, that repeats a pair, or that holds pairs outside the training data (the teacher's
top unseen items are named: a recommendation, not a subset). The known mistakes, each computed with pandas
from the teacher's scores (the lowest scores with ``keep_interactions``' ``"teacher-surprising"``): the top
share of all interactions at once; floor instead of ceil, with or without the minimum of one; rounding to
the nearest; the lowest scores; a share of the catalogue instead of the user's interactions; ties to the
higher item id; the scores ignored (the first rows of each user as given).
"""

import math

import numpy as np
import pandas as pd
import torch

from tinyrec import data, evaluate, models, subsample
from tinyrec.exercises._core import case_error, correct, fn_name, which_mistake

__all__ = ["check_teacher_subset"]


def _pairs(df):
    """The set of ``(user, item)`` pairs of a DataFrame."""
    return set(zip(df["user"].tolist(), df["item"].tolist()))


def _index(train, column):
    """A column of ``train`` as an index tensor."""
    return torch.as_tensor(train[column].to_numpy(copy=True))


def _ranked(train, scores, ascending=False, items_ascending=True):
    """``train``'s pairs with their teacher score, by user, then score (highest first), then item."""
    score = torch.as_tensor(scores).double()[_index(train, "user"), _index(train, "item")].numpy()
    return (train[["user", "item"]].assign(score=score)
            .sort_values(["user", "score", "item"], ascending=[True, ascending, items_ascending]))


def _first(ranked, count):
    """The first ``count(n_u)`` rows of each user of ``ranked`` (``count`` maps an array of sizes)."""
    sizes = ranked.groupby("user")["user"].transform("size").to_numpy()
    return _pairs(ranked[ranked.groupby("user").cumcount().to_numpy() < count(sizes)])


def _ceil(fraction):
    return lambda n: np.maximum(1, np.ceil(fraction * n))


def _top_unseen(train, scores, fraction):
    """Each user's ``ceil(fraction * n_u)`` highest-scored items outside their training interactions."""
    scores = torch.as_tensor(scores).double().clone()
    scores[_index(train, "user"), _index(train, "item")] = -math.inf
    sizes = train.groupby("user").size()
    return {(u, i) for u, n in sizes.items() for i in scores[u].topk(math.ceil(fraction * n)).indices.tolist()}


def _global_top(train, scores, fraction):
    ranked = _ranked(train, scores).sort_values(["score", "user", "item"], ascending=[False, True, True])
    return _pairs(ranked.head(math.ceil(fraction * len(train))))


def _lowest(train, scores, fraction):
    split = _as_split(train, scores)
    return _pairs(subsample.keep_interactions(split, fraction, "teacher-surprising", teacher_scores=scores).train)


def _first_rows(train, scores, fraction):
    return _first(train[["user", "item"]], _ceil(fraction))


MISTAKES = [  # (fn(train, teacher_scores, fraction) -> set of pairs with this mistake, the diagnosis)
    (_global_top,
     "It kept the top share of *all* the interactions at once, not of each user's: users whose scores run "
     "higher (with EASE, those with long histories) keep more than their share and others keep nothing. "
     "Rank and cut within each user (group by user)."),
    (lambda t, s, f: _first(_ranked(t, s), lambda n: np.floor(f * n)),
     "It kept floor(fraction · n_u) interactions, with no minimum: a user with few interactions (here the one "
     "with a single interaction) is dropped entirely, and a model cannot learn a user it never sees. Keep "
     "ceil(fraction · n_u), at least one."),
    (lambda t, s, f: _first(_ranked(t, s), lambda n: np.maximum(1, np.floor(f * n))),
     "It kept floor(fraction · n_u) interactions (at least one): the count rounds down. Keep "
     "ceil(fraction · n_u), as tinyrec.subsample.keep_interactions does."),
    (lambda t, s, f: _first(_ranked(t, s), lambda n: np.round(f * n)),
     "It rounded fraction · n_u to the nearest whole number: rounding drops a user with a single interaction "
     "(0.25 rounds to 0) and keeps too few elsewhere. Keep ceil(fraction · n_u), at least one."),
    (_lowest,
     "It kept the interactions with the *lowest* teacher scores, the ones the teacher finds most surprising "
     "(keep_interactions' rule \"teacher-surprising\", which Lab 5d found far worse on validation). Sort "
     "the scores in descending order."),
    (lambda t, s, f: _first(_ranked(t, s), lambda n: math.ceil(f * s.shape[1])),
     "It kept a share of the whole catalogue, ceil(fraction · n_items) per user, not of the user's own "
     "interactions: the fraction is of n_u, the user's training interactions."),
    (lambda t, s, f: _first(_ranked(t, s, items_ascending=False), _ceil(f)),
     "Ties went to the higher item id: among equal teacher scores keep the lower item id (sort by score "
     "descending, then by item ascending, e.g. a stable sort of the rows ordered by item)."),
    (_first_rows,
     "It kept the first rows of each user in the order given, ignoring the teacher's scores: look each "
     "interaction's score up, teacher_scores[user, item], and keep the highest."),
]


def _as_split(train, scores):
    """A :class:`tinyrec.data.Split` whose training part is ``train`` (no validation or test)."""
    n_users, n_items = scores.shape
    empty = train.iloc[:0]
    return data.Split(train, empty, empty, np.arange(n_users) + 1, np.arange(n_items) + 1, 0, "exercise")


def _hand_made():
    """Three users over 12 items: 7, 5 and 1 training interactions, rows not in score order."""
    rows = [(0, i) for i in (7, 2, 9, 0, 4, 11, 5)] + [(1, i) for i in (3, 10, 6, 8, 1)] + [(2, 5)]
    order = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    scores = torch.linspace(-1.0, 1.0, 36).reshape(3, 12)[:, order]  # distinct scores, user 2's the highest
    return pd.DataFrame(rows, columns=["user", "item"]), scores


def _tie():
    """Two users over 8 items, 4 and 6 interactions; each has two items tied at the cut."""
    rows = [(0, i) for i in (6, 1, 3, 5)] + [(1, i) for i in (7, 2, 4, 0, 5, 3)]
    scores = torch.zeros(2, 8)
    scores[0, [1, 3, 5, 6]] = torch.tensor([0.9, 0.9, 0.1, 0.3])
    scores[1, [0, 2, 3, 4, 5, 7]] = torch.tensor([0.2, 0.8, 0.1, 0.8, 0.8, -0.4])
    return pd.DataFrame(rows, columns=["user", "item"]), scores


def _synthetic():
    """An EASE teacher fitted on a small synthetic split: 30 users, 60 items, 13 interactions each."""
    split = data.split_per_user(data.synthetic_interactions(n_users=30, n_items=60, per_user=13, seed=0)[0], seed=0)
    teacher = models.EASE(split.n_items, lam=10.0).fit(split.matrix("train"))
    with torch.no_grad():
        scores = evaluate.score_all(teacher, split)
    return split.train[["user", "item"]].copy(), scores


CASES = [  # (name, make () -> (train, teacher_scores), fraction, hint)
    ("three users, one of them with a single interaction, 25%", _hand_made, 0.25,
     "Users 0, 1 and 2 have 7, 5 and 1 training interactions: keep 2, 2 and 1 of them."),
    ("ties at the cut, 25%", _tie, 0.25,
     "User 0's items 1 and 3 tie at 0.9 and one is kept: item 1. User 1 keeps 2 of 6: items 2, 4 and 5 tie "
     "at 0.8, so items 2 and 4."),
    ("an EASE teacher on a small synthetic split, 50%", _synthetic, 0.5,
     "30 users with 11 training interactions each over 60 items: each keeps the ceil(5.5) = 6 that EASE "
     "scores highest."),
]


def _describe(pairs, limit=6):
    shown = sorted(pairs)[:limit]
    return ", ".join(map(str, shown)) + (", ..." if len(pairs) > limit else "")


def _diagnose(result, train, scores, fraction):
    """What is wrong with the learner's DataFrame ``result``, or None when it is right."""
    if not isinstance(result, pd.DataFrame) or not {"user", "item"} <= set(result.columns):
        return (f"it returned a {type(result).__name__}"
                + (f" with columns {list(result.columns)}" if isinstance(result, pd.DataFrame) else "")
                + ": return a DataFrame with columns 'user' and 'item', one row per kept interaction.")
    if not all(pd.api.types.is_integer_dtype(result[c]) for c in ("user", "item")):
        return (f"its columns have dtypes {result['user'].dtype} and {result['item'].dtype}: keep user and item "
                "as the integer indices of train.")
    pairs = _pairs(result)
    if len(pairs) < len(result):
        return f"it returned {len(result)} rows but only {len(pairs)} distinct (user, item) pairs: keep each once."
    foreign = pairs - _pairs(train)
    if foreign:
        if pairs == _top_unseen(train, scores, fraction):
            return ("It returned each user's top *unseen* items: that is the teacher's recommendation, not a "
                    "subset of the data. Keep interactions from train, the ones the teacher scores highest.")
        return (f"it returned {len(foreign)} (user, item) pairs that are not training interactions, e.g. "
                f"{_describe(foreign, 3)}: keep a subset of each user's rows of train.")
    expected = _pairs(subsample.keep_interactions(_as_split(train, scores), fraction, "teacher-typical",
                                                  teacher_scores=scores).train)
    if pairs == expected:
        return None
    mistake = which_mistake(pairs, MISTAKES, train, scores, fraction, equal=lambda a, b: a == b)
    if mistake:
        return mistake
    missing_users = sorted(set(train["user"]) - {u for u, _ in pairs})
    if missing_users:
        return (f"users {missing_users} kept nothing: every user keeps ceil(fraction · n_u) of their "
                "interactions, at least one.")
    extra = pairs - expected
    return (f"expected {_describe(expected)}; it missed {_describe(expected - pairs) or 'nothing'}"
            + (f" and kept {_describe(extra)} instead." if extra else "."))


def check_teacher_subset(teacher_subset):
    """Check ``teacher_subset(train, teacher_scores, fraction)`` against
    :func:`tinyrec.subsample.keep_interactions` with rule ``"teacher-typical"`` on three cases."""
    passed = []
    for case, make, fraction, hint in CASES:
        train, scores = make()
        result = teacher_subset(train.copy(), scores.clone(), fraction)
        problem = _diagnose(result, train, scores, fraction)
        if problem:
            call = (f"{fn_name(teacher_subset)}(train ({len(train)} rows, {train['user'].nunique()} users), "
                    f"teacher_scores {list(scores.shape)}, fraction={fraction:g})")
            raise case_error(case, call, problem, hint)
        passed.append(case)
    correct(fn_name(teacher_subset), "tinyrec.subsample.keep_interactions(..., \"teacher-typical\")", passed)
