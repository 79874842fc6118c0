"""Exercise 3.3 (``03_exercise_paired_bootstrap``): a paired bootstrap interval for "B beats A".

The learner writes ``paired_gain_ci(a, b, n_resamples=10_000, confidence=0.95, seed=0)``: ``a``, ``b`` are
per-user values of two models on the same users; it returns ``(gain, low, high)``, the mean of ``b − a`` and
its percentile interval from resampling users with replacement, the same users for both models. The library's
:func:`tinyrec.metrics.paired_bootstrap_ci` computes ``a − b``, so the reference is ``paired_bootstrap_ci(b, a)``.

The endpoints are random, and the learner's random stream is not the library's, so :func:`check_paired_bootstrap`
compares them within a tolerance of :data:`TOLERANCE` standard errors (the interval's half-width over z). At
:data:`N_RESAMPLES` resamples the Monte-Carlo error of a 2.5% quantile is about 2.7 / √N = 0.013 standard
errors (0.019 for the difference of two independent estimates), so the tolerance is five of those, and a
90% interval passed off as 95% (0.31 standard errors off) fails. The gain itself is not random: it must be
exact.

The check recognises: the direction a − b; an interval with zero width (users resampled without
replacement, i.e. permuted); both ends on one side of the mean (fractions given to ``np.percentile``); the
quantiles of the per-user differences themselves instead of their mean; a and b resampled independently
(unpaired: much wider when users differ); α and 1 − α instead of α/2 and 1 − α/2 (a 90% interval for 95%);
the confidence read as a percentage; the confidence ignored; the normal approximation gain ± z·sd/√n. That
last one is *accepted* where it lies within the tolerance of the bootstrap (symmetric differences), and
named on a case where two users out of sixty gain a lot: there the percentile interval follows the skew and
the normal one does not. Also: a result that changes between two calls with the same seed, a wrong tuple,
no ``ValueError`` for a and b of different lengths, and inputs modified in place.
"""

import numbers
import statistics

import numpy as np

from tinyrec import metrics
from tinyrec.exercises._core import case_error, correct, fn_name

__all__ = ["CASES", "N_RESAMPLES", "TOLERANCE", "check_paired_bootstrap", "reference"]

N_RESAMPLES = 40_000
TOLERANCE = 0.1  # in standard errors of the gain


def reference(a, b, n_resamples=10_000, confidence=0.95, seed=0):
    """``(mean of b − a, low, high)``: :func:`tinyrec.metrics.paired_bootstrap_ci` with the models swapped."""
    return metrics.paired_bootstrap_ci(b, a, n_resamples, confidence, seed)


def _z(confidence):
    return statistics.NormalDist().inv_cdf((1 + confidence) / 2)


def _standard_error(interval, confidence):
    """The standard error of the gain implied by a bootstrap interval: its half-width over z."""
    _, low, high = interval
    return (high - low) / (2 * _z(confidence))


def _unpaired(a, b, n_resamples, confidence, seed):
    """a and b resampled independently: the difference of two independent bootstrap means, whose spread
    is that of each model's own interval (:func:`tinyrec.metrics.bootstrap_ci`) added in quadrature."""
    spread = [_standard_error(metrics.bootstrap_ci(x, n_resamples, confidence, seed), confidence) for x in (a, b)]
    gain, half = float((b - a).mean()), _z(confidence) * float(np.hypot(*spread))
    return gain, gain - half, gain + half


def _per_user(a, b, n_resamples, confidence, seed):
    d = b - a
    alpha = 1 - confidence
    return (float(d.mean()), *map(float, np.quantile(d, [alpha / 2, 1 - alpha / 2])))


def _normal(a, b, n_resamples, confidence, seed):
    d = b - a
    half = _z(confidence) * d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


MISTAKES = [  # (fn(a, b, n_resamples, confidence, seed) with this mistake, the diagnosis)
    (_per_user,
     "It returned the percentiles of the per-user differences b − a themselves: that is where 95% of the "
     "*users* lie, not the uncertainty of their *mean*, which is about √n times narrower. Resample the users, "
     "take the mean of b − a in each resample, and take the percentiles of those means."),
    (_unpaired,
     "a and b were resampled independently (unpaired): each model got its own sample of users, so the "
     "differences between users (some are easy for every model) add to the noise and the interval is much "
     "wider. Draw one set of users per resample and use it for both: the mean of (b − a)[users]."),
    (lambda a, b, n, c, s: reference(a, b, n, 2 * c - 1, s),
     "The percentiles are α and 1 − α (5% and 95% for a 95% interval): that interval covers 90%. Leave α/2 "
     "in each tail: the 2.5th and 97.5th percentiles for 95%."),
    (lambda a, b, n, c, s: reference(a, b, n, c / 100, s),
     "The confidence was read as a percentage: with confidence = 0.95 the percentiles (100 − 0.95) / 2 = "
     "49.5 and 50.5 make a ~1% interval around the median. confidence is a fraction: α = 1 − confidence, "
     "percentiles 100 · α/2 and 100 · (1 − α/2)."),
    (lambda a, b, n, c, s: reference(a, b, n, 0.95, s),
     "It returned a 95% interval whatever the confidence: use the argument, α = 1 − confidence."),
    (_normal,
     "That is the normal approximation, gain ± z · sd / √n, not the bootstrap's percentiles. Here the gain "
     "is skewed (two users of sixty gain a lot), and the percentile interval follows the skew where the "
     "symmetric one cannot: resample the users and take the percentiles of the resampled means."),
]


def _generate():
    """The check's cases, drawn once from a fixed seed: ``[(name, a, b, confidence, seed, hint)]``."""
    rng = np.random.default_rng(2026)
    n = 250  # users who differ a lot in difficulty; B is better for almost all of them
    difficulty = rng.beta(1.0, 3.0, n)
    a1 = np.clip(difficulty + rng.normal(0, 0.05, n), 0, 1)
    b1 = np.clip(difficulty + 0.03 + rng.normal(0, 0.05, n), 0, 1)
    rng = np.random.default_rng(6)
    n = 60  # NDCG-like: half the users at 0; two of them gain a lot, the others barely move
    a2 = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0, 0.3, n))
    gain = rng.normal(0, 0.01, n)
    gain[rng.choice(n, 2, replace=False)] = rng.uniform(0.5, 0.7, 2)
    b2 = np.clip(a2 + gain, 0, 1)
    rng = np.random.default_rng(3)
    n = 200  # no real difference
    difficulty = rng.beta(1.5, 3.0, n)
    a3 = np.clip(difficulty + rng.normal(0, 0.08, n), 0, 1)
    b3 = np.clip(difficulty + rng.normal(0, 0.08, n), 0, 1)
    return [
        ("250 users of very different difficulty; B better for almost all", a1, b1, 0.95, 0,
         "Resample user indices with replacement, rng.integers(0, n, size=n), and use them for a *and* b."),
        ("60 users, two of them gain a lot (a skewed gain)", a2, b2, 0.95, 1,
         "The percentiles of the resampled means: np.quantile(means, [α/2, 1 − α/2]) with α = 1 − confidence."),
        ("200 users, no real difference, confidence 0.9", a3, b3, 0.90, 7,
         "confidence = 0.9: α = 0.1, the 5th and 95th percentiles of the resampled means."),
    ]


CASES = _generate()


def _not_an_interval(result):
    """What is wrong when ``result`` is not a tuple of three real numbers, or None."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        return f"it returned {result!r} ({type(result).__name__}): return a tuple (gain, low, high) of floats."
    for label, value in zip(("gain", "low", "high"), result):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return (f"the {label}, {value!r}, is a {type(value).__name__}: return floats "
                    "(float(x), or x.item() for a tensor or NumPy scalar).")
    return None


def _close(result, expected, tolerance):
    """The same gain (to rounding), and each end within ``tolerance``."""
    return (abs(result[0] - expected[0]) <= 1e-9 + 1e-7 * abs(expected[0])
            and all(abs(r - e) <= tolerance for r, e in zip(result[1:], expected[1:])))


def _diagnose(result, expected, a, b, confidence, seed, tolerance):
    """What is wrong with ``result`` for this case, whose reference interval is ``expected``, or None."""
    problem = _not_an_interval(result)
    if problem:
        return problem
    gain, low, high = map(float, result)
    if not _close((gain, 0, 0), (expected[0], 0, 0), 0):
        if _close((-gain, 0, 0), (expected[0], 0, 0), 0):
            return ("The direction is a − b: the question is whether *B* beats A, so the gain is the mean of "
                    "b − a (positive when B is better), and the interval is that of b − a.")
        if _close((low, 0, 0), (expected[0], 0, 0), 0):
            return "The values are in the wrong order: return (gain, low, high)."
        return f"the gain should be the mean of b − a over users, {expected[0]:.6f}; got {gain:.6f}."
    if high - low <= 1e-12 * max(1.0, abs(gain)):
        return ("The interval has zero width: every resample had the same mean, so the users were resampled "
                "*without* replacement (a permutation). A bootstrap draws n users *with* replacement: some "
                "twice, some not at all.")
    if high < gain or low > gain:
        return (f"Both ends lie on one side of the gain ({low:.4f}, {high:.4f} around {gain:.4f}): np.percentile "
                "takes percents (2.5, 97.5), np.quantile fractions (0.025, 0.975).")
    if _close((gain, low, high), expected, tolerance):
        return None
    for mistake, diagnosis in MISTAKES:
        value = mistake(a, b, N_RESAMPLES, confidence, seed)
        wrong_se = _standard_error(value, confidence)
        if _close((gain, low, high), value, max(tolerance, TOLERANCE * wrong_se)):
            return diagnosis
    return (f"expected about ({expected[0]:.4f}, {expected[1]:.4f}, {expected[2]:.4f}) — each end within "
            f"{tolerance:.4f}, the Monte-Carlo error allowed — got ({gain:.4f}, {low:.4f}, {high:.4f}).")


def _call(name, a, confidence, seed):
    return f"{name}(a, b, n_resamples={N_RESAMPLES:,}, confidence={confidence}, seed={seed}) with {a.size} users"


def check_paired_bootstrap(paired_gain_ci):
    """Check ``paired_gain_ci(a, b, n_resamples, confidence, seed) -> (mean of b − a, low, high)`` against
    ``tinyrec.metrics.paired_bootstrap_ci(b, a)``, each end within :data:`TOLERANCE` standard errors."""
    name = fn_name(paired_gain_ci)
    for case, a, b, confidence, seed, hint in CASES:
        given_a, given_b = a.copy(), b.copy()
        result = paired_gain_ci(given_a, given_b, n_resamples=N_RESAMPLES, confidence=confidence, seed=seed)
        expected = reference(a, b, N_RESAMPLES, confidence, seed)
        tolerance = TOLERANCE * _standard_error(expected, confidence)
        problem = None
        if not (np.array_equal(given_a, a) and np.array_equal(given_b, b)):
            problem = ("it changed a or b in place (sorted, shuffled or overwritten them): a and b are paired by "
                       "position, user i in both, so leave the caller's arrays as they were.")
        problem = problem or _diagnose(result, expected, a, b, confidence, seed, tolerance)
        if not problem:
            again = paired_gain_ci(a.copy(), b.copy(), n_resamples=N_RESAMPLES, confidence=confidence, seed=seed)
            if tuple(map(float, again)) != tuple(map(float, result)):
                problem = ("Two calls with the same seed gave different intervals: draw every random number "
                           "from np.random.default_rng(seed), so that a result can be reproduced.")
        if problem:
            raise case_error(case, _call(name, a, confidence, seed), problem, hint)
    a, b = CASES[0][1], CASES[0][2]
    call = f"{name}(a of {a.size} users, b of {a.size - 1}, n_resamples=100)"
    hint = "if len(a) != len(b): raise ValueError(...)"
    try:
        result = paired_gain_ci(a.copy(), b[:-1].copy(), n_resamples=100)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError, TypeError) as error:
        raise case_error("a and b of different lengths", call, f"it raised {type(error).__name__} ({error}): "
                         "raise ValueError, saying that a and b must hold the same users.", hint) from error
    else:
        raise case_error("a and b of different lengths", call,
                         f"it returned {result!r} instead of raising ValueError: paired values must come from "
                         "the same users, one value of each model per user.", hint)
    correct(name, "tinyrec.metrics.paired_bootstrap_ci(b, a)",
            [f"{case[0]} (each end within {TOLERANCE} standard errors)" for case in CASES]
            + ["a and b of different lengths are refused"])
