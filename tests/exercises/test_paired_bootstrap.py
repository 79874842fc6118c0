"""tinyrec.exercises.paired_bootstrap: check_paired_bootstrap (Exercise 3.3) passes a correct answer, whatever
its random stream, and names each known mistake of a paired bootstrap interval; no wrong answer passes."""

import numpy as np
import pytest
import torch

from tinyrec import metrics
from tinyrec.exercises import paired_bootstrap as exercise
from tinyrec.exercises.paired_bootstrap import check_paired_bootstrap

from . import assert_names, fails_with, stub


def gain_ci(a, b, n_resamples=10_000, confidence=0.95, seed=0, paired=True, replace=True, direction="b - a",
            of="mean", tails="half", percent=False, fractions=False, fixed_confidence=None, reseed=True,
            in_place=False, check_lengths=True):
    """paired_gain_ci written as a learner would, in NumPy, with the given mistakes (none by default)."""
    if in_place:
        a.sort()
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if check_lengths and a.shape != b.shape:
        raise ValueError("a and b must hold the same users")
    n = min(a.size, b.size)
    a, b = a[:n], b[:n]
    rng = np.random.default_rng(seed if reseed else None)
    d = b - a if direction == "b - a" else a - b
    if of == "users":
        means = d
    elif not paired:
        means = b[rng.integers(0, n, (n_resamples, n))].mean(axis=1) - a[rng.integers(0, n, (n_resamples, n))].mean(axis=1)
    elif replace:
        means = d[rng.integers(0, n, (n_resamples, n))].mean(axis=1)
    else:
        means = d[rng.permuted(np.tile(np.arange(n), (n_resamples, 1)), axis=1)].mean(axis=1)
    alpha = 1 - (fixed_confidence or confidence)
    tail = alpha / 2 if tails == "half" else alpha
    if percent:  # confidence taken for a percentage
        ends = np.percentile(means, [(100 - confidence) / 2, 100 - (100 - confidence) / 2])
    elif fractions:  # fractions given to np.percentile
        ends = np.percentile(means, [tail, 1 - tail])
    else:
        ends = np.quantile(means, [tail, 1 - tail])
    return float(d.mean()), float(ends[0]), float(ends[1])


def with_(**mistakes):
    def paired_gain_ci(a, b, n_resamples=10_000, confidence=0.95, seed=0):
        return gain_ci(a, b, n_resamples, confidence, seed, **mistakes)
    return paired_gain_ci


def in_torch(a, b, n_resamples=10_000, confidence=0.95, seed=0):
    """A correct answer with another random stream: torch's generator, users drawn by torch.randint."""
    if len(a) != len(b):
        raise ValueError("a and b must hold the same users")
    d = torch.as_tensor(b, dtype=torch.float64) - torch.as_tensor(a, dtype=torch.float64)
    users = torch.randint(0, d.numel(), (n_resamples, d.numel()), generator=torch.Generator().manual_seed(seed))
    alpha = 1 - confidence
    low, high = torch.quantile(d[users].mean(dim=1), torch.tensor([alpha / 2, 1 - alpha / 2], dtype=torch.float64))
    return d.mean().item(), low.item(), high.item()


def normal_approximation(a, b, n_resamples=10_000, confidence=0.95, seed=0):
    if len(a) != len(b):
        raise ValueError("a and b must hold the same users")
    d = np.asarray(b) - np.asarray(a)
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(d.size) if confidence == 0.95 else 1.6448536269514722 * d.std(
        ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


@pytest.mark.parametrize("fn", [with_(), in_torch,
                                lambda a, b, n_resamples=10_000, confidence=0.95, seed=0:
                                metrics.paired_bootstrap_ci(b, a, n_resamples, confidence, seed + 1000)],
                         ids=["numpy", "torch", "the library, another seed"])
def test_check_paired_bootstrap_passes_a_correct_answer_whatever_its_random_stream(fn, capsys):
    check_paired_bootstrap(fn)
    out = capsys.readouterr().out
    assert "agrees with tinyrec.metrics.paired_bootstrap_ci(b, a)" in out and "different lengths are refused" in out


def test_the_reference_passes_its_own_check(capsys):
    check_paired_bootstrap(exercise.reference)
    assert "Correct!" in capsys.readouterr().out


def shifted(by):
    """A correct interval moved by ``by`` standard errors: no longer the answer."""
    def paired_gain_ci(a, b, n_resamples=10_000, confidence=0.95, seed=0):
        gain, low, high = gain_ci(a, b, n_resamples, confidence, seed)
        se = (high - low) / (2 * exercise._z(confidence))
        return gain, low + by * se, high + by * se
    return paired_gain_ci


@pytest.mark.parametrize("by", [0.2, -0.2, 0.5])
def test_check_paired_bootstrap_refuses_an_interval_moved_by_a_fraction_of_a_standard_error(by):
    assert_names(fails_with(check_paired_bootstrap, shifted(by)), "the Monte-Carlo error allowed")


@pytest.mark.parametrize("fn, message", [
    (with_(direction="a - b"), "The direction is a − b"),
    (lambda a, b, n_resamples=10_000, confidence=0.95, seed=0: metrics.paired_bootstrap_ci(a, b, n_resamples,
                                                                                         confidence, seed),
     "The direction is a − b"),
    (lambda *args, **kwargs: (lambda g, lo, hi: (lo, g, hi))(*gain_ci(*args, **kwargs)), "the wrong order"),
    (with_(replace=False), "resampled *without* replacement"),
    (with_(fractions=True), "np.percentile takes percents"),
    (with_(of="users"), "the percentiles of the per-user differences"),
    (with_(paired=False), "resampled independently (unpaired)"),
    (with_(tails="whole"), "The percentiles are α and 1 − α"),
    (with_(percent=True), "The confidence was read as a percentage"),
    (with_(fixed_confidence=0.95), "It returned a 95% interval whatever the confidence"),
    (normal_approximation, "That is the normal approximation"),
    (with_(reseed=False), "Two calls with the same seed gave different intervals"),
    (with_(in_place=True), "it changed a or b in place"),
    (with_(check_lengths=False), "instead of raising ValueError"),
    (lambda *args, **kwargs: list(gain_ci(*args, **kwargs))[:2], "return a tuple (gain, low, high)"),
    (lambda *args, **kwargs: tuple(torch.tensor(x) for x in gain_ci(*args, **kwargs)), "the gain, tensor("),
    (lambda a, b, **kwargs: gain_ci(a, b, **{**kwargs, "n_resamples": 200}), "the Monte-Carlo error allowed"),
])
def test_check_paired_bootstrap_names_the_mistake(fn, message):
    assert_names(fails_with(check_paired_bootstrap, fn), message)


def test_the_normal_approximation_passes_where_the_gain_is_symmetric_and_fails_where_it_is_skewed():
    """Accepted within the tolerance (case 1), named on the skewed case (case 2)."""
    text = fails_with(check_paired_bootstrap, normal_approximation)
    assert text.startswith(f"Case '{exercise.CASES[1][0]}'"), text


def test_the_cases_separate_the_mistakes_from_the_answer():
    """Each mistake is far outside the tolerance where it is meant to be caught; case 3 contains 0."""
    (_, a1, b1, c1, s1, _), (_, a2, b2, c2, s2, _), (_, a3, b3, c3, s3, _) = exercise.CASES
    n = exercise.N_RESAMPLES
    paired = exercise.reference(a1, b1, n, c1, s1)
    unpaired = exercise._unpaired(a1, b1, n, c1, s1)
    assert (unpaired[2] - unpaired[1]) > 3 * (paired[2] - paired[1])
    se2 = exercise._standard_error(exercise.reference(a2, b2, n, c2, s2), c2)
    normal = exercise._normal(a2, b2, n, c2, s2)
    skewed = exercise.reference(a2, b2, n, c2, s2)
    assert abs(normal[1] - skewed[1]) > 2 * exercise.TOLERANCE * se2
    _, low, high = exercise.reference(a3, b3, n, c3, s3)
    assert low < 0 < high


def test_the_tolerance_is_five_monte_carlo_errors():
    """The spread of an endpoint over seeds, in standard errors, is about 2.7 / √N: a fifth of the tolerance
    for the difference of two independent estimates."""
    _, a, b, confidence, _, _ = exercise.CASES[0]
    lows = [exercise.reference(a, b, exercise.N_RESAMPLES, confidence, seed)[1] for seed in range(8)]
    se = exercise._standard_error(exercise.reference(a, b, exercise.N_RESAMPLES, confidence, 0), confidence)
    spread = np.std(lows, ddof=1) / se
    assert spread < 2 * 2.7 / np.sqrt(exercise.N_RESAMPLES)
    assert exercise.TOLERANCE > 4 * np.sqrt(2) * 2.7 / np.sqrt(exercise.N_RESAMPLES)


def test_check_paired_bootstrap_explains_a_runtime_error_for_different_lengths():
    def torch_only(a, b, n_resamples=10_000, confidence=0.95, seed=0):
        if len(a) != len(b):
            torch.as_tensor(b) - torch.as_tensor(a)  # raises RuntimeError: the sizes do not match
        return gain_ci(a, b, n_resamples, confidence, seed)
    assert_names(fails_with(check_paired_bootstrap, torch_only), "it raised RuntimeError")


def test_check_paired_bootstrap_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_paired_bootstrap(stub)
