"""tinyrec.measure: ratios, bytes, timing, trade-off tables and the Pareto front."""

import itertools
import random
import time

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
