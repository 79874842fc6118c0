"""Size and speed of a model, and the ratios used to compare a compressed model with its original.

Conventions (the usual ones, measured on the same hardware): compression ratio = original bytes /
compressed bytes, speedup = original seconds / compressed seconds, relative drop = (original -
compressed) / original metric.
"""

import io

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
