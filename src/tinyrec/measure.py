"""Size and speed of a model, and the ratios used to compare a compressed model with its original.

Conventions (the usual ones, measured on the same hardware): compression ratio = original bytes /
compressed bytes, speedup = original seconds / compressed seconds, relative drop = (original -
compressed) / original metric.
"""

import io
import statistics
import time

import torch


def _positive(name, value):
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def compression_ratio(original_bytes, compressed_bytes):
    """original / compressed: 4.0 means four times smaller."""
    _positive("original_bytes", original_bytes)
    _positive("compressed_bytes", compressed_bytes)
    return original_bytes / compressed_bytes


def speedup(original_seconds, compressed_seconds):
    """original / compressed time: 2.0 means twice as fast."""
    _positive("original_seconds", original_seconds)
    _positive("compressed_seconds", compressed_seconds)
    return original_seconds / compressed_seconds


def relative_drop(original_metric, compressed_metric):
    """(original - compressed) / original: 0.01 means the metric lost 1% of its value."""
    _positive("original_metric", original_metric)
    return (original_metric - compressed_metric) / original_metric


def saved_bytes(model):
    """Bytes of ``torch.save(model.state_dict())``: what the model costs on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def latency(fn, repeats=7, warmup=1):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` timed calls, after ``warmup`` untimed ones.

    The median (not the mean) resists a call slowed down by another process; warm-up calls pay one-off
    costs (allocation, caches, lazy initialisation) that a served model would not pay per request.
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
