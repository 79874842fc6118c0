"""tinyrec.parallel: sharded labelling equals one process exactly, DDP averages the gradients of one big batch,
and a run whose worker raises, is killed, hangs or misses a collective ends with a clear error, in time,
with no worker process left behind."""

import os
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import torch
import torch.distributed as dist

from tinyrec import data, labels, models, parallel, recipes


def _record_pid(folder, rank):
    Path(folder, f"{rank}.pid").write_text(str(os.getpid()))


def raising_worker(rank, world_size, folder):
    _record_pid(folder, rank)
    if rank == 1:
        raise ValueError("boom from the test")
    dist.barrier()  # rank 0 waits for a peer that is gone


def killed_worker(rank, world_size, folder):
    _record_pid(folder, rank)
    if rank == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    dist.barrier()


def hanging_worker(rank, world_size, folder):
    _record_pid(folder, rank)
    time.sleep(600)


def late_worker(rank, world_size, folder):
    _record_pid(folder, rank)
    if rank == 1:
        time.sleep(600)  # alive, but never joins the collective
    dist.barrier()


def gradient_worker(rank, world_size, users, positives, negatives, out):
    """One DDP step's gradient on this rank's half of a batch, gathered to rank 0."""
    torch.manual_seed(0)
    student = parallel.DataParallelBPR(models.BPRMF(10, 12, 4))
    half = slice(rank * len(users) // 2, (rank + 1) * len(users) // 2)
    loss = models.bpr_loss(student.pair_scores(users[half], positives[half]),
                           student.pair_scores(users[half], negatives[half]))
    loss.backward()
    grads = [p.grad for p in student.model.parameters()]
    if rank == 0:
        torch.save(grads, out)


def no_workers_left(folder):
    """Every pid the workers recorded is gone, and this process has no child that is a spawned worker."""
    pids = [int(p.read_text()) for p in Path(folder).glob("*.pid")]
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    workers = [c for c in psutil.Process().children(recursive=True)
               if "spawn_main" in " ".join(c.cmdline())]
    return pids and not alive and not workers


@pytest.mark.parametrize("worker, message", [
    (raising_worker, r"rank 1 \(pid \d+\) raised ValueError: boom from the test"),
    (killed_worker, r"rank 1 \(pid \d+\) was killed by signal SIGKILL"),
])
def test_a_failing_worker_ends_the_run_with_its_rank_and_cause(tmp_path, worker, message):
    error_files = set(Path(tempfile.gettempdir()).glob("pytorch-errorfile-*"))
    start = time.monotonic()
    with pytest.raises(parallel.WorkerError, match=message):
        parallel.launch(worker, (str(tmp_path),), timeout=60, collective_timeout=30)
    assert time.monotonic() - start < 30
    assert no_workers_left(tmp_path)
    assert set(Path(tempfile.gettempdir()).glob("pytorch-errorfile-*")) <= error_files  # none left behind


def test_a_hanging_run_is_killed_after_its_timeout(tmp_path):
    start = time.monotonic()
    with pytest.raises(parallel.WorkerError, match=r"rank\(s\) \[0, 1\] still running after 8 s"):
        parallel.launch(hanging_worker, (str(tmp_path),), timeout=8)
    assert time.monotonic() - start < 20
    assert no_workers_left(tmp_path)


def test_a_peer_that_misses_a_collective_times_it_out(tmp_path):
    start = time.monotonic()
    with pytest.raises(parallel.WorkerError, match=r"rank 0 \(pid \d+\) raised .*[Tt]imed out"):
        parallel.launch(late_worker, (str(tmp_path),), timeout=60, collective_timeout=3)
    assert time.monotonic() - start < 30
    assert no_workers_left(tmp_path)


def test_launch_rejects_bad_settings():
    with pytest.raises(ValueError, match="world_size"):
        parallel.launch(raising_worker, world_size=0)
    with pytest.raises(ValueError, match="timeouts"):
        parallel.launch(raising_worker, timeout=0)


def test_shards_are_whole_chunks_covering_every_user_once():
    for n_users, world_size in ((943, 2), (943, 3), (100, 2), (1, 2)):
        shards = [parallel.shard(n_users, world_size, rank, chunk=128) for rank in range(world_size)]
        assert torch.equal(torch.cat(shards), torch.arange(n_users))
        assert all(len(s) % 128 == 0 for s in shards[:-1] if len(s))
    with pytest.raises(ValueError, match="rank"):
        parallel.shard(943, 2, 2)


def test_sharded_labels_equal_one_process_exactly(tmp_path, movielens_split):
    teacher = recipes.trained_ease(movielens_split)
    single = labels.label_teacher(teacher, movielens_split.mask("train"), 20)
    sharded = parallel.sharded_labels(movielens_split.seed, 20, tmp_path / "labels.pt")
    assert sharded.items.dtype == torch.int16 and sharded.scores.dtype == torch.float16
    assert torch.equal(sharded.items, single.items) and torch.equal(sharded.scores, single.scores)


def test_ddp_averages_the_gradient_of_the_whole_batch(tmp_path):
    generator = torch.Generator().manual_seed(1)
    users, positives, negatives = (torch.randint(n, (16,), generator=generator) for n in (10, 12, 12))
    parallel.launch(gradient_worker, (users, positives, negatives, str(tmp_path / "g.pt")), timeout=60)
    torch.manual_seed(0)
    model = models.BPRMF(10, 12, 4)
    models.bpr_loss(model.pair_scores(users, positives), model.pair_scores(users, negatives)).backward()
    for ddp_grad, parameter in zip(torch.load(tmp_path / "g.pt"), model.parameters()):
        torch.testing.assert_close(ddp_grad, parameter.grad)


def test_rank_splits_are_equal_disjoint_shards_with_the_full_training_mask(synthetic_split):
    shards = [parallel.rank_split(synthetic_split, 2, rank, seed=0) for rank in range(2)]
    pairs = [set(zip(s.train["user"], s.train["item"])) for s in shards]
    assert len(shards[0].train) == len(shards[1].train) == len(synthetic_split.train) // 2
    assert not pairs[0] & pairs[1]
    assert pairs[0] | pairs[1] <= set(zip(synthetic_split.train["user"], synthetic_split.train["item"]))
    for s in shards:
        assert torch.equal(s.mask("train"), synthetic_split.mask("train"))
        assert torch.equal(s.mask("valid"), synthetic_split.mask("valid"))


def test_ddp_trained_bpr_needs_the_split_of_its_seed(synthetic_split, tmp_path):
    with pytest.raises(ValueError, match="seed"):
        parallel.ddp_trained_bpr(synthetic_split, seed=synthetic_split.seed + 1, out=tmp_path / "m.pt")
