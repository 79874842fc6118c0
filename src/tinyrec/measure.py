"""Size and speed of a model, the ratios that compare a compressed model with its original, and the
trade-off between them.

Conventions (the usual ones, measured on the same hardware): compression ratio = original bytes /
compressed bytes, speedup = original seconds / compressed seconds, relative drop = (original -
compressed) / original metric. A point of a trade-off is *dominated* when another point is at most as
costly and at least as good, and strictly better in one of the two.
"""

import contextlib
import io
import math
import statistics
import time

import torch

from tinyrec.config import positive_int


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


def tensor_bytes(*tensors):
    """Bytes of the tensors as stored in memory: the sum of ``numel * element_size``.

    ``tensor_bytes(*model.parameters())`` is a model's weights; ``tensor_bytes(q.qdata, q.scale)`` the
    parts of a quantized tensor.
    """
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"argument {index} must be a torch.Tensor, got {type(tensor).__name__}")
    return sum(tensor.nbytes for tensor in tensors)


def saved_bytes(model):
    """Bytes of ``torch.save(model.state_dict())``: what the model costs on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@contextlib.contextmanager
def single_thread():
    """Run the block with torch on one thread, and restore the previous setting afterwards, even when
    the block fails. One thread makes timings comparable between models and machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def latency(fn, repeats=7, warmup=1):
    """Median wall-clock seconds of ``fn()`` over ``repeats`` timed calls, after ``warmup`` untimed ones.

    The median (not the mean) resists a call slowed down by another process; warm-up calls pay one-off
    costs (allocation, caches, lazy initialisation) that a served model would not pay per request.
    """
    repeats, warmup = positive_int("repeats", repeats), positive_int("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def top_k_overlap(scores, reference, k=10, exclude=None):
    """Fidelity: the share of each user's top-``k`` list (by ``scores``) that is also in the top-``k`` of
    ``reference`` (e.g. the teacher's, or the uncompressed model's). Float ``[n_users]`` in ``[0, 1]``.

    scores, reference: float ``[n_users, n_items]``; exclude: optional bool ``[n_users, n_items]`` of
    items neither list may contain (the user's training items). Ties go to the lower item index, as in
    :mod:`tinyrec.metrics`.
    """
    if scores.shape != reference.shape or scores.dim() != 2:
        raise ValueError(f"scores and reference must be 2-D of the same shape, got {tuple(scores.shape)} "
                         f"and {tuple(reference.shape)}")
    k = positive_int("k", k)

    def top(x):
        key = x.detach().float().clamp(min=torch.finfo(torch.float32).min)
        if exclude is not None:
            key = key.masked_fill(exclude, float("-inf"))
        return key.sort(dim=1, descending=True, stable=True).indices[:, :k]

    mine, theirs = top(scores), top(reference)
    return (mine[:, :, None] == theirs[:, None, :]).any(dim=2).float().mean(dim=1)


def tradeoff(table, base, size="bytes", quality="NDCG@10"):
    """``table`` (a DataFrame, one row per model) with two columns added against the row ``base``:
    ``"ratio"``, the compression ratio of ``size``, and ``"drop"``, the relative drop of ``quality``.

    ``base``: the label of the reference row (e.g. the uncompressed teacher), or a pair
    ``(size, quality)`` when the reference is not in the table. Returns a new DataFrame.
    """
    for column in (size, quality):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r}; it has {list(table.columns)}")
    if isinstance(base, tuple):
        base_size, base_quality = base
    elif base in table.index:
        base_size, base_quality = table.loc[base, size], table.loc[base, quality]
    else:
        raise ValueError(f"base must be a row of the table ({list(table.index)}) or a pair (size, quality), "
                         f"got {base!r}")
    out = table.copy()
    out["ratio"] = [compression_ratio(base_size, value) for value in out[size]]
    out["drop"] = [relative_drop(base_quality, value) for value in out[quality]]
    return out


def pareto_front(cost, quality):
    """Indices of the points that no other point dominates, ordered by increasing cost.

    A point dominates another when its cost is ≤ and its quality ≥, one of them strictly. Of several
    identical points only the first index is kept. ``cost`` and ``quality``: sequences of numbers of the
    same length (lists, arrays, Series); mismatched lengths or NaN raise ``ValueError``.
    """
    cost, quality = [float(c) for c in cost], [float(q) for q in quality]
    if len(cost) != len(quality):
        raise ValueError(f"cost and quality must have the same length, got {len(cost)} and {len(quality)}")
    for name, values in (("cost", cost), ("quality", quality)):
        bad = [i for i, v in enumerate(values) if math.isnan(v)]
        if bad:
            raise ValueError(f"{name} has NaN at index {bad[:5]}; every point needs a cost and a quality")
    # Sort by cost, then best quality first, then index: a point is on the front when its quality beats
    # every point before it (those cost less, or the same with at least its quality).
    order = sorted(range(len(cost)), key=lambda i: (cost[i], -quality[i], i))
    front, best = [], -math.inf
    for i in order:
        if quality[i] > best:
            front.append(i)
            best = quality[i]
    return front

