"""Exercise 5.2 (``05_exercise_equal_budget``): the bytes of a two-tier embedding table, and the uniform
width that costs the same.

:func:`check_equal_budget` compares the learner's ``table_bytes(n_rows, n_head, width, head_bits,
tail_width, tail_bits)`` with :func:`tinyrec.adaptive.mixed_bytes` (codes packed to whole bytes per row, an
fp16 scale and offset per row, an fp16 projection basis when the tail is narrower, a one-bit-per-row tier
mask) and ``uniform_width(budget, n_rows, bits)`` with the widest uniform table that
:func:`tinyrec.adaptive.uniform_bytes` keeps within the budget. Each known mistake is computed from the
library's value: for the bytes, the scales and offsets forgotten or in fp32, the basis forgotten or in
fp32, the tier mask forgotten or one byte per row, codes rounded down or not packed, parameters counted
instead of bytes; for the width, rounding up, the scales forgotten, parameters instead of bytes, one byte
per entry whatever the bits.
"""

import math

from tinyrec import adaptive
from tinyrec.exercises._core import case_error, correct, fn_name, not_an_int

__all__ = ["check_equal_budget", "reference_width"]


def reference_width(budget, n_rows, bits):
    """The widest ``width`` with ``uniform_bytes(n_rows, width, bits) <= budget`` (0 when none fits)."""
    width = 0
    while adaptive.uniform_bytes(n_rows, width + 1, bits) <= budget:
        width += 1
    return width


def _tail(n, h):
    return n - h


def _basis(w, tw):
    return tw * w * 2 if tw < w else 0


def _codes(width, bits):
    return adaptive.row_bytes(width, bits) - 2 * adaptive.SCALE_BYTES


BYTES_MISTAKES = [  # (fn(n_rows, n_head, width, head_bits, tail_width, tail_bits) with this mistake, diagnosis)
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) - 4 * n,
     "The per-row scales and offsets are missing: every row, head or tail, stores an fp16 scale and an fp16 "
     "offset (4 bytes) to dequantize its codes. At 12 bytes per row that is a third of the table."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) + 4 * n,
     "The scales and offsets are counted in float32 (8 bytes per row): this table stores them in fp16, 2 bytes "
     "each, 4 per row."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) - _basis(w, tw),
     "The projection basis is missing: tail rows stored in tail_width coordinates need the tail_width × width "
     "matrix that maps them back (fp16, 2 bytes per entry) — the price of mixed dimensions."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) + _basis(w, tw),
     "The basis is counted in float32: it is stored in fp16, tail_width × width × 2 bytes."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) - math.ceil(n / 8),
     "The tier mask is missing: to serve a row the model must know whether it is a head or a tail row, one bit "
     "per row, ceil(n_rows / 8) bytes (unless the ids were renumbered by popularity, which this table does not do)."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb) - math.ceil(n / 8) + n,
     "The tier mask is counted as one byte per row: it is one bit per row, packed, ceil(n_rows / 8) bytes."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb)
     - h * (_codes(w, hb) - w * hb // 8) - _tail(n, h) * (_codes(tw, tb) - tw * tb // 8),
     "The codes are rounded down: a row of width × bits bits takes ceil(width × bits / 8) whole bytes (each row "
     "is padded to a whole byte, so that it can be read on its own)."),
    (lambda n, h, w, hb, tw, tb: adaptive.mixed_bytes(n, h, w, hb, tw, tb)
     - h * _codes(w, hb) - _tail(n, h) * _codes(tw, tb) + h * w + _tail(n, h) * tw,
     "The codes are counted as one byte each: at 4 bits two codes share a byte, at 2 bits four do "
     "(ceil(width × bits / 8) bytes per row)."),
    (lambda n, h, w, hb, tw, tb: h * w + _tail(n, h) * tw + (tw * w if tw < w else 0),
     "That is a count of parameters (numbers stored), not of bytes: multiply by what each costs — bits / 8 "
     "for a code, 2 bytes for an fp16 scale, offset or basis entry — and add the tier mask."),
]

WIDTH_MISTAKES = [  # (fn(budget, n_rows, bits) with this mistake, diagnosis)
    (lambda b, n, bits: reference_width(b, n, bits) + 1,
     "It rounded up: the uniform table must fit *within* the budget, so take the widest width whose bytes do "
     "not exceed it (round down), else the 'equal-bytes' baseline gets more bytes than the adaptive table."),
    (lambda b, n, bits: max(w for w in range(0, 4096) if n * math.ceil(w * bits / 8) <= b),
     "The scales and offsets were left out: every uniform row pays 4 bytes of fp16 scale and offset too, "
     "ceil(width × bits / 8) + 4 bytes per row."),
    (lambda b, n, bits: b // n,
     "That treats the budget as a number of parameters per row: the budget is bytes; a row costs "
     "ceil(width × bits / 8) + 4 bytes."),
    (lambda b, n, bits: b // n - 2 * adaptive.SCALE_BYTES,
     "It gave one byte per entry whatever the bits: at 4 bits two entries share a byte, so the width can be "
     "twice as large (ceil(width × bits / 8) + 4 bytes per row)."),
]

BYTES_CASES = [  # (name, (n_rows, n_head, width, head_bits, tail_width, tail_bits), hint)
    ("MovieLens items: 521 head rows at int8 d=16, the other 1,161 in 8 dimensions at int4", (1682, 521, 16, 8, 8, 4),
     "Head 521 × (16 + 4); tail 1,161 × (4 + 4); basis 8 × 16 × 2; mask ceil(1,682 / 8) = 211."),
    ("mixed precision only: 300 of 943 users at int8, the rest at int2, all 16 dimensions", (943, 300, 16, 8, 16, 2),
     "Same width for both tiers: no basis. Head 300 × (16 + 4), tail 643 × (4 + 4), mask 118."),
    ("odd widths: 10 dims at int8 in the head, 5 dims at int4 in the tail (2.5 bytes of codes)", (100, 10, 10, 8, 5, 4),
     "5 × 4 = 20 bits: 3 whole bytes per tail row, plus 4 of scale and offset; basis 5 × 10 × 2; mask 13."),
]
WIDTH_CASES = [  # (name, (budget, n_rows, bits), hint)
    ("exactly the bytes of d=16 int4 for 943 users", (11_316, 943, 4), "943 × (8 + 4) = 11,316: width 16 fits exactly."),
    ("one byte short of it", (11_315, 943, 4),
     "Width 16 and 15 both need 8 bytes of codes (15 × 4 = 60 bits, 8 bytes): neither fits; width 14 does."),
    ("the two-tier item table of the first case, as a uniform int2 table", (20_175, 1682, 2),
     "A row of width w at 2 bits costs ceil(w / 4) + 4 bytes; 1,682 rows must stay within 20,175 bytes."),
]


def check_equal_budget(table_bytes, uniform_width):
    """Check ``table_bytes(n_rows, n_head, width, head_bits, tail_width, tail_bits)`` against
    :func:`tinyrec.adaptive.mixed_bytes` and ``uniform_width(budget, n_rows, bits)`` against
    :func:`reference_width`, three cases each; both must return ints."""
    passed = []
    parts = (("table_bytes", ("n_rows", "n_head", "width", "head_bits", "tail_width", "tail_bits"), table_bytes,
              adaptive.mixed_bytes, BYTES_MISTAKES, BYTES_CASES),
             ("uniform_width", ("budget", "n_rows", "bits"), uniform_width, reference_width, WIDTH_MISTAKES,
              WIDTH_CASES))
    for label, names, fn, reference, mistakes, cases in parts:
        for case, args, hint in cases:
            expected, result = reference(*args), fn(*args)
            problem = not_an_int(result) if label == "table_bytes" else (
                f"it returned {result!r} ({type(result).__name__}): a width is a whole number of dimensions, an int."
                if not_an_int(result) else None)
            if problem is None and result != expected:
                problem = next((diagnosis for mistake, diagnosis in mistakes if mistake(*args) == result),
                               f"expected {expected:,}, got {result:,}.")
            if problem:
                call = f"{fn_name(fn)}(" + ", ".join(f"{n}={a:,}" for n, a in zip(names, args)) + ")"
                raise case_error(case, call, problem, hint)
            passed.append(f"{label}: {case}")
    correct(f"{fn_name(table_bytes)} and {fn_name(uniform_width)}",
            "tinyrec.adaptive.mixed_bytes and the widest uniform table within the budget", passed)
