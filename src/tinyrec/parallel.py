"""Distillation's two big jobs over several worker processes with ``torch.distributed``: labelling every user
with the teacher's top-K (sharded by user rows, gathered to rank 0), and training the student with
``DistributedDataParallel`` (each rank takes its half of every batch; gradients are averaged).

Workers talk over the ``gloo`` backend (CPU). :func:`launch` starts them on this machine with
``torch.multiprocessing`` (spawn) and always cleans up: when a worker raises, is killed by a signal or
hangs past ``timeout``, the others are terminated and :class:`WorkerError` names the rank and the cause.
Every collective has a timeout too (``collective_timeout``), so a dead peer cannot block the others.
Each worker runs torch on one thread: two processes of two threads each on two cores slow each other
down 10–20×.

The same worker functions run on a cluster under ``torchrun``, which sets ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` and ``MASTER_PORT`` (``env://``), e.g. on each of two nodes::

    torchrun --nnodes=2 --nproc_per_node=1 --node_rank=<0|1> --master_addr=<host of rank 0> \\
        --master_port=29500 -m tinyrec.parallel labels --seed 0 --k 100 --out labels.pt

(``torchrun --standalone --nproc_per_node=2 -m tinyrec.parallel labels ...`` on one machine). Every rank
reads the data and the cached teacher itself, as workers on shared storage would.
"""

import argparse
import dataclasses
import datetime
import os
import pickle
import signal
import socket
import time
from pathlib import Path

import pandas as pd
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.multiprocessing.spawn import ProcessException
from torch.nn.parallel import DistributedDataParallel

from tinyrec import data, labels, models, recipes, train
from tinyrec.cache import cached
from tinyrec.config import default_device, positive_int, resolve_seed, seed_everything

__all__ = ["WorkerError", "free_port", "launch", "shard", "label_worker", "sharded_labels", "ShardSplit",
           "DataParallelBPR", "ddp_worker", "ddp_trained_bpr", "topk_student"]

CHUNK = 128  # users per teacher call; shards are whole chunks, so every row is computed as in one process


class WorkerError(RuntimeError):
    """A worker process failed (raised, was killed, or did not finish in time); the message names the rank."""


def free_port():
    """A TCP port on 127.0.0.1 that is free now (the OS picks it: bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _entry(rank, fn, world_size, init_method, collective_timeout, args):
    """What every spawned (or torchrun) process runs: one torch thread, join the group, ``fn``, leave it."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=collective_timeout))
    try:
        fn(rank, world_size, *args)
    finally:
        dist.destroy_process_group()


def _error_report(error_file):
    """The traceback a spawned rank wrote to ``error_file``, or None when there is none or it is cut off (a
    rank stopped by the clean-up while it was writing it)."""
    try:
        with open(error_file, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


def _failures(context):
    """``"rank r (pid p) <cause>"`` for every rank that failed, those that failed only because a peer did
    (gloo's "... by peer" errors, the SIGTERM of the clean-up) last: the first one is the cause of the run's end."""
    failures = []
    for rank, (process, error_file) in enumerate(zip(context.processes, context.error_files)):
        code = process.exitcode
        report = _error_report(error_file)
        if report is not None:
            lines = [line.strip() for line in report.splitlines() if line.strip()]
            cause = f"raised {lines[-1] if lines else 'an exception'}"
        elif code is not None and code < 0:
            cause = f"was killed by signal {signal.Signals(-code).name}"
        elif code:
            cause = f"exited with code {code}"
        else:
            continue
        secondary = "peer" in cause or cause.endswith("SIGTERM")
        failures.append((secondary, f"rank {rank} (pid {process.pid}) {cause}"))
    return [text for _, text in sorted(failures, key=lambda failure: failure[0])]


def launch(fn, args=(), world_size=2, timeout=600.0, collective_timeout=60.0):
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes joined in a gloo group.

    ``fn`` must be importable (a module-level function of a module, not of a notebook): spawn pickles it by
    name. The group meets on a free port of 127.0.0.1. Returns when every rank has returned. If a rank
    raises or dies, the others are terminated and :class:`WorkerError` names the rank and the cause; if the
    run takes longer than ``timeout`` seconds, all ranks are killed and :class:`WorkerError` says so.
    """
    world_size = positive_int("world_size", world_size)
    if not timeout > 0 or not collective_timeout > 0:
        raise ValueError(f"timeouts must be > 0 seconds, got {timeout!r} and {collective_timeout!r}")
    init_method = f"tcp://127.0.0.1:{free_port()}"
    context = mp.start_processes(_entry, args=(fn, world_size, init_method, collective_timeout, tuple(args)),
                                 nprocs=world_size, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout
    try:
        while not context.join(timeout=0.5):
            if time.monotonic() > deadline:
                running = [rank for rank, p in enumerate(context.processes) if p.is_alive()]
                raise WorkerError(f"rank(s) {running} still running after {timeout:g} s: all ranks killed")
    except ProcessException as error:
        for process in context.processes:
            process.join()
        failures = _failures(context) or [str(error).strip()]
        raise WorkerError("; ".join(failures) + "; every other rank was stopped") from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
            process.join()
        for error_file in context.error_files:  # torch leaves them in the temporary folder
            Path(error_file).unlink(missing_ok=True)


def shard(n_users, world_size, rank, chunk=CHUNK):
    """The users of ``rank``: a contiguous range of whole ``chunk``-sized blocks, as even as possible.

    Returns long ``[b]`` (possibly empty for a rank beyond the number of blocks)."""
    world_size, chunk = positive_int("world_size", world_size), positive_int("chunk", chunk)
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank!r}")
    blocks = -(-positive_int("n_users", n_users) // chunk)
    first, last = (blocks * rank) // world_size, (blocks * (rank + 1)) // world_size
    return torch.arange(first * chunk, min(last * chunk, n_users))


def _gather_rows(tensor, rows, world_size):
    """Rank 0 receives every rank's 2-D ``tensor`` (padded to ``rows``) and gets them concatenated, unpadded.

    The rows travel as their bytes (gloo has no int16): the compact labels are what goes over the wire."""
    padded = torch.zeros((rows, tensor.shape[1] * tensor.element_size()), dtype=torch.uint8)
    padded[:len(tensor)] = tensor.contiguous().view(torch.uint8)
    sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(world_size)]
    dist.all_gather(sizes, torch.tensor([len(tensor)]))
    received = [torch.empty_like(padded) for _ in range(world_size)] if dist.get_rank() == 0 else None
    dist.gather(padded, received, dst=0)
    if received is None:
        return None
    return torch.cat([part[:int(size)] for part, size in zip(received, sizes)]).view(tensor.dtype)


def label_worker(rank, world_size, seed, k, out):
    """One rank of the sharded labelling: the top-``k`` labels of the EASE teacher of ``seed``'s split for
    this rank's users (:func:`shard`), gathered to rank 0, which saves them to ``out``
    (:meth:`tinyrec.labels.TopKLabels.state`)."""
    split = data.split_per_user(data.load_movielens_100k(), seed=seed)
    teacher = recipes.trained_ease(split)
    users = shard(split.n_users, world_size, rank)
    mine = labels.label_teacher(teacher, split.mask("train"), k, users=users, chunk=CHUNK)
    rows = len(shard(split.n_users, world_size, 0))  # rank 0 holds the largest shard
    items = _gather_rows(mine.items, rows, world_size)
    scores = _gather_rows(mine.scores, rows, world_size)
    if rank == 0:
        torch.save(labels.TopKLabels(items, scores, split.n_items).state(), out)


def sharded_labels(seed, k, out, world_size=2, timeout=600.0):
    """:func:`label_worker` over ``world_size`` local processes; returns the gathered
    :class:`tinyrec.labels.TopKLabels` (also saved at ``out``). The teacher must be cached already
    (``recipes.trained_ease``), or every rank would fit it."""
    launch(label_worker, (seed, k, str(out)), world_size=world_size, timeout=timeout)
    return labels.TopKLabels(**torch.load(out, weights_only=True))


@dataclasses.dataclass
class ShardSplit(data.Split):
    """A rank's view of a split: ``train`` is its shard of the training interactions (what the training loop
    iterates over), while ``part("train")`` — hence ``mask`` and ``matrix``, used for negative sampling and
    for excluding seen items in evaluation — is the full training part."""

    full_train: pd.DataFrame = None

    def part(self, name):
        return self.full_train if name == "train" else super().part(name)


def rank_split(split, world_size, rank, seed):
    """``split`` as :class:`ShardSplit` for ``rank``: the training interactions shuffled with ``seed`` and cut
    into ``world_size`` shards of equal size (up to ``world_size - 1`` interactions left out), so every rank
    takes the same number of steps."""
    order = torch.randperm(len(split.train), generator=torch.Generator().manual_seed(seed))
    size = len(order) // world_size
    mine = split.train.iloc[order[rank * size:(rank + 1) * size].numpy()].reset_index(drop=True)
    fields = {f.name: getattr(split, f.name) for f in dataclasses.fields(data.Split)}
    return ShardSplit(**{**fields, "train": mine}, full_train=split.train)


class _PairScores(nn.Module):
    """A BPR-MF whose ``forward`` is ``pair_scores``: DDP averages the gradients of what goes through forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, users, items):
        return self.model.pair_scores(users, items)


class DataParallelBPR(nn.Module):
    """A BPR-MF for :func:`tinyrec.train.train_bpr` under ``torch.distributed``: ``pair_scores`` goes through
    ``DistributedDataParallel`` (which broadcasts rank 0's weights at construction and averages gradients
    over ranks at every backward); ``forward`` (evaluation) calls the model directly."""

    def __init__(self, model):
        super().__init__()
        self.ddp = DistributedDataParallel(_PairScores(model))

    @property
    def model(self):
        return self.ddp.module.model

    def forward(self, users, history=None):
        return self.model(users, history)

    def pair_scores(self, users, items):
        return self.ddp(users, items)


def ddp_worker(rank, world_size, seed, dim, settings, out):
    """One rank of data-parallel BPR-MF training on ``seed``'s split: the model starts as
    :func:`tinyrec.recipes.trained_bpr`'s does (seeded, then rank 0's weights broadcast), each rank runs
    :func:`tinyrec.train.train_bpr` on its shard (:func:`rank_split`) with ``batch_size / world_size``
    per step and its own negatives; rank 0 saves ``{"state_dict", "history"}`` to ``out``."""
    split = data.split_per_user(data.load_movielens_100k(), seed=seed)
    seed_everything(seed)
    student = DataParallelBPR(models.BPRMF(split.n_users, split.n_items, dim))
    settings = dict(settings)
    per_rank = positive_int("batch_size", settings.pop("batch_size", 2048)) // world_size
    mine = rank_split(split, world_size, rank, seed)
    student, history = train.train_bpr(student, mine, seed=seed * world_size + rank, progress=False,
                                       batch_size=per_rank, **settings)
    epochs = [torch.zeros(1, dtype=torch.int64) for _ in range(world_size)]
    dist.all_gather(epochs, torch.tensor([history[-1]["epoch"]]))
    if len({int(e) for e in epochs}) != 1:
        raise RuntimeError(f"ranks stopped after different epochs: {[int(e) for e in epochs]}")
    if rank == 0:
        torch.save({"state_dict": student.model.state_dict(), "history": history}, out)


def ddp_trained_bpr(split, seed, out, dim=64, world_size=2, timeout=1800.0, **settings):
    """BPR-MF trained by :func:`ddp_worker` over ``world_size`` local processes, cached like the book's
    models (``split`` must be ``seed``'s split, which every rank rebuilds). ``settings`` go to
    :func:`tinyrec.train.train_bpr` (``batch_size`` is the global batch). Returns ``(model, history)``."""
    if split.seed != seed:
        raise ValueError(f"split was drawn with seed {split.seed}, not {seed}")

    def fit():
        launch(ddp_worker, (seed, dim, settings, str(out)), world_size=world_size, timeout=timeout)
        saved = torch.load(out, weights_only=True)
        model = models.BPRMF(split.n_users, split.n_items, dim)
        model.load_state_dict(saved["state_dict"])
        return model, saved["history"]

    config = {"dim": dim, "seed": seed, "world_size": world_size, **settings}
    return cached("ddp_bpr", config, split, code=(ddp_worker, rank_split, DataParallelBPR, train.train_bpr,
                                                  models.BPRMF, data.split_per_user),
                  fit=fit, build=lambda: models.BPRMF(split.n_users, split.n_items, dim))


def topk_student(split, k=100, dim=64, seed=None, progress=True):
    """Lab 1b's listwise KD student (:data:`tinyrec.recipes.LISTWISE_KD`), distilled from the teacher's
    stored top-``k`` labels (:func:`tinyrec.labels.topk_objective`) instead of its dense scores: what a
    pipeline that precomputes the labels once (:func:`sharded_labels`) trains. Everything else — seeding,
    users per step and their sampling, the training loop and its settings — is as in
    :func:`tinyrec.recipes.trained_student`. Cached; returns ``(model, history)``."""
    seed = resolve_seed(seed)
    settings = {key: value for key, value in recipes.LISTWISE_KD.items() if key != "method"}

    def fit():
        seen = split.mask("train", default_device())
        stored = labels.label_teacher(recipes.trained_ease(split).to(default_device()), seen, k, chunk=CHUNK)
        generator = torch.Generator(device=default_device()).manual_seed(seed)
        extra = labels.topk_objective(stored, seen, settings["temperature"], generator=generator)
        seed_everything(seed)
        model = models.BPRMF(split.n_users, split.n_items, dim).to(default_device())
        return train.train_bpr(model, split, seed=seed, progress=progress, extra_loss=extra, alpha=settings["alpha"])

    config = {"dim": dim, "seed": seed, "k": k, **settings}
    return cached("topk_student", config, split, code=(topk_student, labels.label_teacher, labels.topk_objective,
                                                       recipes.trained_ease, train.train_bpr, models.BPRMF,
                                                       data.split_per_user),
                  fit=fit, build=lambda: models.BPRMF(split.n_users, split.n_items, dim))


def main(argv=None):
    """``torchrun ... -m tinyrec.parallel labels --seed S --k K --out FILE``: :func:`label_worker` on the
    rank and world that torchrun gives this process (``env://``)."""
    parser = argparse.ArgumentParser(prog="python -m tinyrec.parallel")
    parser.add_argument("job", choices=["labels"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--out", required=True)
    parser.add_argument("--collective-timeout", type=float, default=60.0)
    options = parser.parse_args(argv)
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    _entry(rank, label_worker, world_size, "env://", options.collective_timeout,
           (options.seed, options.k, options.out))


if __name__ == "__main__":
    main()
