"""tinyrec.measure: ratios, bytes, timing, trade-off tables and the Pareto front."""

import itertools
import random
import time

import numpy as np
import pandas as pd
import pytest
import torch

from tinyrec import measure


def test_ratios_follow_the_usual_definitions():
    assert measure.compression_ratio(100, 25) == 4.0
    assert measure.speedup(2.0, 0.5) == 4.0
    assert measure.relative_drop(0.30, 0.27) == pytest.approx(0.1)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="must be positive"):
            measure.compression_ratio(bad, 1)
        with pytest.raises(ValueError, match="must be positive"):
            measure.speedup(1.0, bad)


def test_tensor_bytes_counts_each_element_at_its_size():
    assert measure.tensor_bytes(torch.zeros(3, 4), torch.zeros(5, dtype=torch.uint8), torch.zeros(2, dtype=torch.int16)) \
        == 3 * 4 * 4 + 5 + 2 * 2
    assert measure.tensor_bytes() == 0
    linear = torch.nn.Linear(10, 3)
    assert measure.tensor_bytes(*linear.parameters()) == (10 * 3 + 3) * 4
    with pytest.raises(ValueError, match="argument 1 must be a torch.Tensor, got list"):
        measure.tensor_bytes(torch.zeros(1), [1.0])


def test_saved_bytes_grow_with_the_model():
    small, large = torch.nn.Linear(10, 10), torch.nn.Linear(100, 100)
    assert 440 < measure.saved_bytes(small) < measure.saved_bytes(large)
    assert measure.saved_bytes(large) > 4 * 100 * 100


def test_single_thread_restores_the_setting_even_when_the_block_fails():
    before = torch.get_num_threads()
    with measure.single_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), measure.single_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_latency_is_the_median_of_timed_calls_after_warmup():
    calls = []

    def fn():
        calls.append(None)
        time.sleep(0.05 if len(calls) == 1 else 0.002)  # only the warm-up call is slow

    seconds = measure.latency(fn, repeats=5, warmup=1)
    assert len(calls) == 6
    assert 0.0015 < seconds < 0.03
    delays = iter([0.2, 0.001, 0.001])
    assert measure.latency(lambda: time.sleep(next(delays)), repeats=3, warmup=0) < 0.1  # one outlier


def test_latency_rejects_bad_repeats():
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="repeats"):
            measure.latency(lambda: None, repeats=bad)
    with pytest.raises(ValueError, match="warmup"):
        measure.latency(lambda: None, warmup=-1)


def test_top_k_overlap_counts_shared_items_of_the_two_lists():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    reference = torch.tensor([[5.0, 1.0, 4.0, 2.0, 3.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    # user 0: {0, 1} vs {0, 2} share one; user 1: {4, 3} vs {0, 1} share none
    assert measure.top_k_overlap(scores, reference, k=2).tolist() == [0.5, 0.0]
    assert measure.top_k_overlap(scores, scores, k=3).tolist() == [1.0, 1.0]
    exclude = torch.zeros(2, 5, dtype=torch.bool)
    exclude[0, 2] = True  # item 2 cannot be recommended to user 0: the reference's top 2 become {0, 4}
    assert measure.top_k_overlap(scores, reference, k=2, exclude=exclude).tolist() == [0.5, 0.0]
    exclude[0, 1] = True  # now the lists are {0, 3} and {0, 4}
    assert measure.top_k_overlap(scores, reference, k=2, exclude=exclude)[0] == 0.5
    with pytest.raises(ValueError, match="same shape"):
        measure.top_k_overlap(scores, reference[:, :3])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        measure.top_k_overlap(scores, reference, k=0)


def test_tradeoff_adds_ratio_and_drop_against_the_base():
    table = pd.DataFrame({"bytes": [400, 100, 50], "NDCG@10": [0.30, 0.27, 0.15]}, index=["fp32", "int8", "int4"])
    out = measure.tradeoff(table, "fp32")
    assert out["ratio"].tolist() == [1.0, 4.0, 8.0]
    assert out["drop"].tolist() == pytest.approx([0.0, 0.1, 0.5])
    assert "ratio" not in table  # a new table
    outside = measure.tradeoff(table.drop(index="fp32"), (400, 0.30))
    assert outside["ratio"].tolist() == [4.0, 8.0]
    with pytest.raises(ValueError, match="no column 'MB'"):
        measure.tradeoff(table, "fp32", size="MB")
    with pytest.raises(ValueError, match="base must be a row"):
        measure.tradeoff(table, "fp16")


def _dominated(i, cost, quality):
    return any(cost[j] <= cost[i] and quality[j] >= quality[i] and (cost[j] < cost[i] or quality[j] > quality[i])
               for j in range(len(cost)))


def test_pareto_front_on_a_hand_made_example():
    cost = [10, 1, 5, 5, 3, 1, 8]
    quality = [0.9, 0.1, 0.7, 0.5, 0.7, 0.1, 0.95]
    # 1 and 5 are identical (first kept); 3 is dominated by 2, and 2 by 4 (cheaper, as good).
    assert measure.pareto_front(cost, quality) == [1, 4, 6]
    assert measure.pareto_front(pd.Series([2.0]), [0.3]) == [0]
    assert measure.pareto_front([], []) == []


def test_pareto_front_agrees_with_the_definition_on_random_points():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        cost = [rng.choice([1, 2, 3, 4]) for _ in range(n)]
        quality = [rng.choice([0.1, 0.2, 0.3]) for _ in range(n)]
        expected = [i for i in range(n) if not _dominated(i, cost, quality)
                    and not any((cost[j], quality[j]) == (cost[i], quality[i]) for j in range(i))]
        front = measure.pareto_front(cost, quality)
        assert sorted(front) == expected
        assert [cost[i] for i in front] == sorted(cost[i] for i in front)
        assert all(a != b for a, b in itertools.pairwise(front))


def test_pareto_front_rejects_bad_input():
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        measure.pareto_front([1, 2], [0.5])
    with pytest.raises(ValueError, match=r"quality has NaN at index \[1\]"):
        measure.pareto_front([1, 2], [0.5, float("nan")])


def test_saved_bytes_of_an_artefact_include_scales_and_indices():
    codes, scale = torch.zeros(100, 64, dtype=torch.uint8), torch.zeros(100)
    assert 100 * 64 + 400 < measure.saved_bytes({"codes": codes, "scale": scale}) < 100 * 64 + 400 + 2000
    assert measure.saved_bytes({"codes": codes}) < measure.saved_bytes({"codes": codes, "scale": scale})
    big = torch.zeros(1000)
    assert measure.saved_bytes(big[:10]) > 4000  # a view is saved with its whole storage


def test_resident_bytes_count_each_storage_once():
    weight = torch.zeros(100, 10)
    assert measure.resident_bytes({"w": weight, "view": weight[:5], "again": [weight]}) == 4000
    assert measure.resident_bytes(torch.nn.Linear(10, 3)) == (10 * 3 + 3) * 4

    class Quantized:  # a plain object holding tensors, like tinyrec.quantize.RowQuantized
        def __init__(self):
            self.codes, self.scale, self.bits = torch.zeros(10, 4, dtype=torch.uint8), torch.zeros(10), 8

    assert measure.resident_bytes(Quantized()) == 40 + 40
    array = np.zeros(1000)
    assert measure.resident_bytes([array, array[:10], array.reshape(10, 100)]) == 8000
    sparse = torch.eye(50).to_sparse_csr()  # 50 values, 50 column indices, 51 row pointers
    assert measure.resident_bytes(sparse) >= 50 * 4 + 50 * 8 + 51 * 8


def test_threads_sets_and_restores_torch_and_faiss():
    faiss = pytest.importorskip("faiss")
    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    with pytest.raises(RuntimeError, match="boom"), measure.threads(1):
        assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (1, 1)
        raise RuntimeError("boom")
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == before
    with pytest.raises(ValueError, match="threads"):
        measure.threads(0).__enter__()


def test_timing_statistics():
    timing = measure.Timing(times=(1.0, 2.0, 3.0, 4.0, 100.0), batch=10)
    assert timing.median == 3.0 and timing.iqr == 2.0 and timing.throughput == pytest.approx(10 / 3)
    assert 4.0 < timing.p95 < 100.0


def test_benchmark_times_every_function_in_the_same_run_at_the_thread_count():
    order, threads_seen = [], set()

    def slow():
        order.append("slow")
        threads_seen.add(torch.get_num_threads())
        time.sleep(0.004)

    def fast():
        order.append("fast")
        time.sleep(0.001)

    before = torch.get_num_threads()
    timings = measure.benchmark({"slow": slow, "fast": fast}, batch=32, n_threads=1, rounds=2, min_run_time=0.02)
    assert torch.get_num_threads() == before and threads_seen == {1}
    assert 2.0 < timings["slow"].median / timings["fast"].median < 6.0
    assert timings["fast"].batch == 32 and len(timings["fast"].times) >= 2
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches >= 3  # slow, fast, slow, fast: interleaved rounds, not all of one first
    with pytest.raises(ValueError, match="fns"):
        measure.benchmark({})


def test_peak_memory_sees_a_freed_tensor_and_numpy_arrays():
    def temporary():
        big = torch.ones(1_000_000)  # 4 MB, freed before the call returns
        return float(big.sum())

    peak, result = measure.peak_memory(temporary)
    assert result == 1e6
    assert 4_000_000 <= peak.torch < 4_200_000
    peak, _ = measure.peak_memory(lambda: np.ones(1_000_000).sum())
    assert 8_000_000 <= peak.python < 8_200_000 and peak.total == peak.torch + peak.python


def test_report_puts_every_model_against_the_base():
    users = torch.arange(200)
    base = measure.Evaluated("base", {"NDCG@10": (users % 2).float()}, bytes=1000,
                             timings={1: measure.Timing((0.004, 0.004, 0.004), 1)}, family="teacher")
    small = measure.Evaluated("small", {"NDCG@10": (users % 2).float() * 0.9}, bytes=250,
                              timings={1: measure.Timing((0.001, 0.001, 0.001), 1)})
    table = measure.report([base, small], "base")
    assert list(table.index) == ["base", "small"]
    assert table.loc["small", "ratio"] == 4.0 and table.loc["small", "speedup @1"] == pytest.approx(4.0)
    assert table.loc["small", "drop"] == pytest.approx(0.1) and table.loc["base", "drop"] == 0.0
    assert table.loc["small", "NDCG@10 low"] < table.loc["small", "NDCG@10"] < table.loc["small", "NDCG@10 high"]
    assert table.loc["small", "ms @1"] == pytest.approx(1.0) and table.loc["small", "users/s @1"] == pytest.approx(1000)
    with pytest.raises(ValueError, match="base must be"):
        measure.report([small], "base")
    with pytest.raises(ValueError, match="unique"):
        measure.report([small, small], "small")
