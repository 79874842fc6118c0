"""tinyrec.measure.latency: the median of timed calls, after warm-up."""

import time

import pytest

from tinyrec import measure


def test_latency_is_the_median_of_timed_calls_after_warmup():
    calls = []

    def fn():
        calls.append(None)
        time.sleep(0.05 if len(calls) == 1 else 0.002)  # only the warm-up call is slow

    seconds = measure.latency(fn, repeats=5, warmup=1)
    assert len(calls) == 6
    assert 0.0015 < seconds < 0.03


def test_latency_median_ignores_one_outlier():
    delays = iter([0.2, 0.001, 0.001])
    seconds = measure.latency(lambda: time.sleep(next(delays)), repeats=3, warmup=0)
    assert seconds < 0.1


def test_latency_rejects_bad_repeats():
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="repeats"):
            measure.latency(lambda: None, repeats=bad)
    with pytest.raises(ValueError, match="warmup"):
        measure.latency(lambda: None, warmup=-1)
