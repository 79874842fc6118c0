"""Exercise 3.1 (``03_exercise_ratios``): the compression ratio, the speedup and the relative drop.

:func:`check_ratios` compares the learner's ``compression_ratio(original_bytes, compressed_bytes)``,
``speedup(original_seconds, compressed_seconds)`` and ``relative_drop(original_metric, compressed_metric)``
with :func:`tinyrec.measure.compression_ratio`, :func:`~tinyrec.measure.speedup` and
:func:`~tinyrec.measure.relative_drop` on rows of a hand-made table (the source document's example first:
13.9% of the original size is 7.2× smaller, 86% saved). Each known mistake is computed from the library's
value: for the ratio, the inverted ratio compressed / original (the source document's definition), the space
saving, the percentage of the original size, the space saved in percent, the ratio times 100; for the
speedup, 1 / compressed seconds (the source's 速度比, "speed ratio"), the inverted speedup, the share of time
saved, the speedup times 100; for the drop, the absolute drop, the absolute change, the flipped sign, a
percentage, the drop relative to the compressed metric, the share kept.
"""

import numbers

from tinyrec import measure
from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake

__all__ = ["check_ratios"]

RATIO_MISTAKES = [  # (fn(original_bytes, compressed_bytes) with this mistake, the diagnosis)
    (lambda o, c: 1 / measure.compression_ratio(o, c),
     "It returned compressed / original, the inverted ratio (the source document's definition), which the "
     "chapter's Errata corrects. 0.139 is the share of its bytes the model kept; the compression ratio is "
     "original / compressed, 7.2 here: seven times smaller. Above 1 means smaller."),
    (lambda o, c: 1 - 1 / measure.compression_ratio(o, c),
     "It returned the space saving, 1 − compressed / original, passed off as a ratio. 86% saved is a ratio "
     "of 7.2, not 0.86; and savings compare badly: from 90% to 95% saved, the model halves (10× to 20×)."),
    (lambda o, c: 100 / measure.compression_ratio(o, c),
     "It returned the percentage of the original size, 100 · compressed / original: the ratio is original / "
     "compressed, a plain number (7.2, written 7.2×)."),
    (lambda o, c: 100 * (1 - 1 / measure.compression_ratio(o, c)),
     "It returned the space saved in percent, 100 · (1 − compressed / original): the ratio is original / "
     "compressed, a plain number, not a percentage."),
    (lambda o, c: 100 * measure.compression_ratio(o, c),
     "It returned the ratio times 100: original / compressed is already the answer (7.2 means 7.2× smaller)."),
]
SPEEDUP_MISTAKES = [  # (fn(original_seconds, compressed_seconds) with this mistake, the diagnosis)
    (lambda o, c: 1 / c,
     "It returned 1 / compressed_seconds (the source document's 速度比), its 'speed ratio': the compressed "
     "model's calls per second, a throughput in 1/s, compared with nothing. It ignores the original and changes with "
     "the unit (1,000 times smaller in milliseconds). Speedup = original_seconds / compressed_seconds, both "
     "measured in the same run on the same machine."),
    (lambda o, c: 1 / measure.speedup(o, c),
     "It returned compressed / original seconds, inverted: 0.25 would mean four times *slower*. Speedup = "
     "original_seconds / compressed_seconds; above 1 means faster."),
    (lambda o, c: 1 - 1 / measure.speedup(o, c),
     "It returned the share of time saved, (original − compressed) / original: 75% less time is a speedup "
     "of 4, not 0.75. Divide the times: original / compressed."),
    (lambda o, c: 100 * measure.speedup(o, c),
     "It returned the speedup times 100: original / compressed seconds is already the answer (4 means four "
     "times as fast)."),
]
DROP_MISTAKES = [  # (fn(original_metric, compressed_metric) with this mistake, the diagnosis)
    (lambda o, c: o * measure.relative_drop(o, c),
     "It returned the absolute drop, original − compressed, in points of the metric. The relative drop "
     "divides it by the original, (original − compressed) / original: 0.01 means 1% of the value lost, "
     "whatever the metric's scale."),
    (lambda o, c: -o * measure.relative_drop(o, c),
     "It returned compressed − original: an absolute change with the sign flipped. The relative drop is "
     "(original − compressed) / original, positive when the compressed model is worse."),
    (lambda o, c: -measure.relative_drop(o, c),
     "The sign is flipped: (compressed − original) / original is the relative *change*. A drop is positive "
     "when the compressed model is worse: (original − compressed) / original."),
    (lambda o, c: 100 * measure.relative_drop(o, c),
     "It returned a percentage: return the fraction (original − compressed) / original (0.033, shown as 3.3%)."),
    (lambda o, c: o * measure.relative_drop(o, c) / c,
     "It divided by the compressed metric: the drop is relative to the original, "
     "(original − compressed) / original."),
    (lambda o, c: 1 - measure.relative_drop(o, c),
     "It returned the share of the metric kept, compressed / original: the drop is 1 minus that."),
]

COMPRESSION_CASES = [  # (name, (original bytes, compressed bytes), hint)
    ("the source document's example: 13.9% of the original size", (1_000_000, 139_000),
     "1,000,000 / 139,000 = 7.19: seven times smaller. 0.139 is the relative size, 86.1% the space saved."),
    ("EASE (1,682 × 1,682 float32) in int8 rows", (11_316_496, 2_842_580),
     "11,316,496 bytes before; 2,842,580 after (one-byte codes plus a float32 scale and offset per row)."),
    ("a 'compression' that grew: EASE 50% pruned, in CSR with int32 indices", (11_316_496, 11_323_228),
     "CSR is larger than the dense matrix here: the ratio is below 1, and that is the honest answer."),
]
SPEEDUP_CASES = [  # (name, (original seconds, compressed seconds), hint)
    ("48 ms against 12 ms per batch", (0.048, 0.012), "0.048 / 0.012 = 4: four times as fast."),
    ("the same times in milliseconds, 48 and 12", (48.0, 12.0),
     "A ratio of two times has no unit: the answer cannot depend on seconds or milliseconds."),
    ("a slowdown: 10 ms against 13 ms", (0.010, 0.013), "0.010 / 0.013 = 0.77: slower, and the ratio says so."),
]
DROP_CASES = [  # (name, (original metric, compressed metric), hint)
    ("EASE 0.3207, its int4 rows 0.3100", (0.3207, 0.3100), "(0.3207 − 0.3100) / 0.3207 = 0.033: 3.3% lost."),
    ("half the metric lost: 0.32 to 0.16", (0.32, 0.16), "(0.32 − 0.16) / 0.32 = 0.5."),
    ("a gain: 0.30 to 0.33", (0.30, 0.33),
     "The compressed model is better: the drop is negative, (0.30 − 0.33) / 0.30 = −0.1. Do not clamp it."),
]
PARTS = [  # (name, the arguments' names, reference, mistakes, cases)
    ("compression_ratio", ("original_bytes", "compressed_bytes"), measure.compression_ratio, RATIO_MISTAKES,
     COMPRESSION_CASES),
    ("speedup", ("original_seconds", "compressed_seconds"), measure.speedup, SPEEDUP_MISTAKES, SPEEDUP_CASES),
    ("relative_drop", ("original_metric", "compressed_metric"), measure.relative_drop, DROP_MISTAKES, DROP_CASES),
]


def check_ratios(compression_ratio, speedup, relative_drop):
    """Check ``compression_ratio(original_bytes, compressed_bytes)``, ``speedup(original_seconds,
    compressed_seconds)`` and ``relative_drop(original_metric, compressed_metric)`` against the functions of
    the same names in :mod:`tinyrec.measure`, each on three rows of a table; each must return a float."""
    passed = []
    for fn, (label, names, reference, mistakes, cases) in zip((compression_ratio, speedup, relative_drop), PARTS):
        for case, (original, compressed), hint in cases:
            expected = reference(original, compressed)
            result = fn(original, compressed)
            problem = None
            if isinstance(result, bool) or not isinstance(result, numbers.Real):
                problem = f"it returned {result!r} ({type(result).__name__}): return a float."
            elif not same(result, expected, rtol=1e-6, atol=1e-12):
                problem = (which_mistake(result, mistakes, original, compressed, rtol=1e-6, atol=1e-12)
                           or f"expected {expected:.6g}, got {result:.6g}.")
            if problem:
                call = f"{fn_name(fn)}({names[0]}={original:g}, {names[1]}={compressed:g})"
                raise case_error(case, call, problem, hint)
            passed.append(f"{label}: {case}")
    correct(f"{fn_name(compression_ratio)}, {fn_name(speedup)} and {fn_name(relative_drop)}",
            "tinyrec.measure.compression_ratio, speedup and relative_drop", passed)
