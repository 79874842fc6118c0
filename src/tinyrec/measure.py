"""Size and speed of a model, the ratios that compare a compressed model with its original, and the
trade-off between them.

Conventions (the usual ones, measured on the same hardware): compression ratio = original bytes /
compressed bytes, speedup = original seconds / compressed seconds, relative drop = (original -
compressed) / original metric. A point of a trade-off is *dominated* when another point is at most as
costly and at least as good, and strictly better in one of the two.
"""

import contextlib
import dataclasses
import io
import math
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import torch
import torch.utils.benchmark
from torch.profiler import ProfilerActivity, profile

from tinyrec.config import positive_int
from tinyrec.metrics import bootstrap_ci


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


def saved_bytes(artefact):
    """Bytes of the file ``torch.save`` writes: what the artefact costs on disk, everything included
    (quantization scales and offsets, sparse indices and pointers, the file format's own overhead).

    ``artefact``: an ``nn.Module`` (its ``state_dict()`` is saved), a tensor, or a dict / list of tensors
    and numbers. A view is saved with its whole storage, as ``torch.save`` does.
    """
    if isinstance(artefact, torch.nn.Module):
        artefact = artefact.state_dict()
    buffer = io.BytesIO()
    torch.save(artefact, buffer)
    return buffer.getbuffer().nbytes


def _arrays_in(obj, seen):
    """Every tensor and NumPy array reachable from ``obj`` (modules, dicts, sequences, object attributes)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if hasattr(obj, "__tensor_flatten__"):  # a tensor subclass (e.g. torchao's quantized weights)
        yield from _arrays_in([getattr(obj, name) for name in obj.__tensor_flatten__()[0]], seen)
    elif isinstance(obj, (torch.Tensor, np.ndarray)):
        yield obj
    elif isinstance(obj, torch.nn.Module):
        yield from _arrays_in([*obj.parameters(), *obj.buffers()], seen)
        yield from _arrays_in({k: v for k, v in vars(obj).items() if not k.startswith("_")}, seen)
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _arrays_in(value, seen)
    elif isinstance(obj, (list, tuple, set)):
        for value in obj:
            yield from _arrays_in(value, seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from _arrays_in(vars(obj), seen)


def resident_bytes(obj):
    """Bytes of memory that the loaded object's tensors and arrays hold, each storage counted once.

    Unlike :func:`tensor_bytes`, a tensor that views another costs nothing more; unlike
    :func:`saved_bytes`, no file format is counted. A view of a larger storage counts the whole storage
    (it keeps it alive). Follows modules, dicts, sequences and plain objects' attributes.
    """
    storages = {}
    for array in _arrays_in(obj, set()):
        if isinstance(array, torch.Tensor):
            if array.layout != torch.strided:  # sparse: its index and value tensors
                parts = ((array.crow_indices(), array.col_indices(), array.values())
                         if array.layout == torch.sparse_csr else (array._indices(), array._values()))
                storages.update({("torch", p.untyped_storage().data_ptr()): p.untyped_storage().nbytes()
                                 for p in parts})
            else:
                storages[("torch", array.untyped_storage().data_ptr())] = array.untyped_storage().nbytes()
        else:
            base = array
            while isinstance(base.base, np.ndarray):
                base = base.base
            storages[("numpy", id(base))] = base.nbytes
    return sum(storages.values())


@contextlib.contextmanager
def threads(n):
    """Run the block with torch (and faiss, when it is imported) on ``n`` threads, and restore the
    previous settings afterwards, even when the block fails. A fixed count makes timings comparable."""
    n = positive_int("threads", n)
    faiss = sys.modules.get("faiss")
    before = torch.get_num_threads(), faiss.omp_get_max_threads() if faiss else None
    torch.set_num_threads(n)
    if faiss:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        if faiss:
            faiss.omp_set_num_threads(before[1])


def single_thread():
    """:func:`threads` ``(1)``: one thread makes timings comparable between models and machines."""
    return threads(1)


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


@dataclasses.dataclass(frozen=True)
class Timing:
    """Repeated timings of one call: ``times`` are seconds per call, one per block of
    ``torch.utils.benchmark`` (each block averages several calls); ``batch`` users per call."""

    times: tuple
    batch: int = 1
    threads: int = 1

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def iqr(self):
        """Interquartile range of the block times, in seconds: how much a block's mean call time varies."""
        low, high = np.percentile(self.times, [25, 75])
        return float(high - low)

    @property
    def p95(self):
        """95th percentile of the block times, in seconds (a block averages calls: not a per-request tail)."""
        return float(np.percentile(self.times, 95))

    @property
    def throughput(self):
        """Users per second at the median: ``batch / median``."""
        return self.batch / self.median


def benchmark(fns, batch=1, n_threads=1, rounds=3, min_run_time=0.1):
    """Time every function of ``fns`` (``{name: fn}``, each called with no argument) in the same run.

    For each of ``rounds`` rounds, each function in turn is timed by ``torch.utils.benchmark.Timer``'s
    ``blocked_autorange`` (which warms it up while choosing how many calls a block holds) for at least
    ``min_run_time`` seconds, all at ``n_threads`` threads (torch, and faiss when imported). Interleaving the
    rounds, in a new random order each round (seeded, so a run is repeatable), spreads a slow spell of the
    machine and any effect of running first or last over all functions instead of one. Returns
    ``{name: Timing}``.
    """
    if not isinstance(fns, dict) or not fns or not all(callable(fn) for fn in fns.values()):
        raise ValueError(f"fns must be a non-empty dict of name -> function, got {fns!r}")
    rounds, batch = positive_int("rounds", rounds), positive_int("batch", batch)
    n_threads = positive_int("n_threads", n_threads)
    _positive("min_run_time", min_run_time)
    times = {name: [] for name in fns}
    names, order = list(fns), np.random.default_rng(0)
    with threads(n_threads):
        for _ in range(rounds):
            for name in (names[i] for i in order.permutation(len(names))):
                fn = fns[name]
                timer = torch.utils.benchmark.Timer("fn()", globals={"fn": fn}, num_threads=n_threads)
                times[name].extend(timer.blocked_autorange(min_run_time=min_run_time).times)
    return {name: Timing(tuple(t), batch, n_threads) for name, t in times.items()}


@dataclasses.dataclass(frozen=True)
class Peak:
    """Peak memory of a call, in bytes, above what was allocated before it: ``torch`` from the
    profiler's record of every CPU tensor allocation and free (a tensor that existed before the call and
    is freed during it counts as a negative allocation: this is the rise of live tensor memory over its
    level at the start, which can be below the call's own allocations), ``python`` from ``tracemalloc``
    (Python objects and NumPy arrays). ``total`` adds them: an upper bound, as the two peaks may
    not coincide. Memory that C++ libraries allocate themselves (e.g. faiss) is in neither."""

    torch: int
    python: int

    @property
    def total(self):
        return self.torch + self.python


def peak_memory(fn):
    """:class:`Peak` memory of one call ``fn()``. Returns ``(Peak, fn's result)``.

    Why not the process's peak RSS: it never goes down, counts the allocator's cached pages and the
    libraries loaded, and needs a fresh process per measurement; the profiler sees each tensor.
    """
    with warnings.catch_warnings(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        warnings.simplefilter("ignore")
        tracemalloc.start()  # inside the profiler, so that none of the profiler's own objects count
        try:
            result = fn()
            python = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return Peak(int(peak), int(python)), result


@dataclasses.dataclass
class Evaluated:
    """One model's row of a :func:`report`: per-user quality (``{metric: float [n_users]}``, the same
    users in the same order for every model), its bytes, and optionally its timings
    (``{batch: Timing}``, all models timed in the same :func:`benchmark` run), parameters and family."""

    name: str
    per_user: dict
    bytes: int
    timings: dict = dataclasses.field(default_factory=dict)
    parameters: int = None
    family: str = ""


def report(models, base, quality="NDCG@10", confidence=0.95):
    """One table of every model in ``models`` (a list of :class:`Evaluated`) against the one named ``base``.

    Columns: family, parameters, bytes, ``ratio`` (base bytes / bytes); for each metric its mean and
    bootstrap interval over users (``low``, ``high``); ``drop``, the relative drop of ``quality``; for each
    batch size ``b`` timed: ``ms @b`` (median), ``IQR ms @b``, ``users/s @b`` and ``speedup @b`` (base's
    median / this median). Returns a DataFrame indexed by name, in the order given.
    """
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique, got {names}")
    if base not in names:
        raise ValueError(f"base must be the name of one of the models {names}, got {base!r}")
    reference = models[names.index(base)]
    if quality not in reference.per_user:
        raise ValueError(f"quality {quality!r} is not among the metrics {list(reference.per_user)}")
    base_quality = float(np.mean(np.asarray(reference.per_user[quality], dtype=np.float64)))
    rows = []
    for model in models:
        row = {"family": model.family, "parameters": model.parameters, "bytes": model.bytes,
               "ratio": compression_ratio(reference.bytes, model.bytes)}
        for metric, values in model.per_user.items():
            row[metric], row[f"{metric} low"], row[f"{metric} high"] = bootstrap_ci(values, confidence=confidence)
        row["drop"] = relative_drop(base_quality, row[quality])
        for batch, timing in sorted(model.timings.items()):
            row[f"ms @{batch}"], row[f"IQR ms @{batch}"] = timing.median * 1e3, timing.iqr * 1e3
            row[f"users/s @{batch}"] = timing.throughput
            if batch in reference.timings:
                row[f"speedup @{batch}"] = speedup(reference.timings[batch].median, timing.median)
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(names, name="model"))


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

