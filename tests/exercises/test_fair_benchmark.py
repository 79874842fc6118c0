"""tinyrec.exercises.fair_benchmark: check_fair_benchmark (Exercise 3.2) passes a fair benchmark and names
each known flaw of an unfair one."""

import statistics
import time

import pytest
import torch

from tinyrec import measure
from tinyrec.exercises.fair_benchmark import CASES, VALUE_MISTAKES, Rig, _median_speedup, check_fair_benchmark
from tinyrec.exercises._core import same

from . import assert_names, fails_with, stub


def benchmark(baseline, candidate, make_input, repeats=7, warmup=2, threads=1, clock=time.perf_counter, *,
              input_inside=False, no_warmup=False, single=False, blocked=False, baseline_threads=None,
              summary=statistics.median, inverted=False, own_clock=False, no_input=False, leave_threads=False):
    """A benchmark with the flaws asked for (none by default: the right answer)."""
    clock = time.perf_counter if own_clock else clock
    x = None if input_inside or no_input else make_input()
    times = {baseline: [], candidate: []}

    def timed(fn):
        start = clock()
        fn(make_input() if input_inside else x)
        times[fn].append(clock() - start)

    def run(fn_threads):
        for _ in range(0 if no_warmup else warmup):
            for fn in (baseline, candidate):
                fn(make_input() if input_inside else x)
        n = 1 if single else repeats
        if blocked:
            for fn in (baseline, candidate):
                for _ in range(n):
                    timed(fn)
        else:
            for _ in range(n):
                for fn in (baseline, candidate):
                    fn_threads(fn)

    if baseline_threads is not None:  # the baseline measured at another thread count
        def at_own_threads(fn):
            if fn is baseline:
                with measure.threads(baseline_threads):
                    timed(fn)
            else:
                timed(fn)
        with measure.threads(threads):
            run(at_own_threads)
    elif leave_threads:
        torch.set_num_threads(threads)
        run(timed)
    else:
        with measure.threads(threads):
            run(timed)
    b, c = summary(times[baseline]), summary(times[candidate])
    return c / b if inverted else b / c


def fair_speedup(baseline, candidate, make_input, repeats=7, warmup=2, threads=1, clock=time.perf_counter):
    return benchmark(baseline, candidate, make_input, repeats, warmup, threads, clock)


def flawed(**flaws):
    def fair_speedup(baseline, candidate, make_input, repeats=7, warmup=2, threads=1, clock=time.perf_counter):
        return benchmark(baseline, candidate, make_input, repeats, warmup, threads, clock, **flaws)
    return fair_speedup


def test_check_fair_benchmark_passes_a_fair_benchmark(capsys):
    before = torch.get_num_threads()
    check_fair_benchmark(fair_speedup)
    assert "Correct! fair_speedup agrees with the median speedup" in capsys.readouterr().out
    assert torch.get_num_threads() == before


def test_candidate_first_and_input_per_run_outside_the_timer_also_pass(capsys):
    def fair_speedup(baseline, candidate, make_input, repeats=7, warmup=2, threads=1, clock=time.perf_counter):
        b, c = [], []
        with measure.threads(threads):
            for k in range(warmup + repeats):
                x = make_input()
                for fn, out in ((candidate, c), (baseline, b)):
                    start = clock()
                    fn(x)
                    elapsed = clock() - start
                    if k >= warmup:
                        out.append(elapsed)
        return statistics.median(b) / statistics.median(c)
    check_fair_benchmark(fair_speedup)
    assert "Correct!" in capsys.readouterr().out


@pytest.mark.parametrize("flaws, message", [
    (dict(own_clock=True), "The clock it was given was never read"),
    (dict(input_inside=True), "make_input() ran inside the timed region"),
    (dict(no_input=True), "make_input() was never called"),
    (dict(no_warmup=True), "no warm-up"),
    (dict(single=True), "was timed once"),
    (dict(single=True, no_warmup=True), "was timed once"),
    (dict(baseline_threads=2), "different thread counts"),
    (dict(leave_threads=True), "torch's thread count was left at"),
    (dict(blocked=True), "were not interleaved"),
    (dict(summary=statistics.mean), "*mean* times"),
    (dict(inverted=True), "inverted: a faster candidate"),
    (dict(summary=min), "expected 4, got 3.92"),
], ids=lambda x: x if isinstance(x, str) else "-".join(x))
def test_check_fair_benchmark_names_each_flaw(flaws, message):
    before = torch.get_num_threads()
    assert_names(fails_with(check_fair_benchmark, flawed(**flaws)), message)
    assert torch.get_num_threads() == before


def test_the_threads_argument_ignored_is_named():
    def fair_speedup(baseline, candidate, make_input, repeats=7, warmup=2, threads=1, clock=time.perf_counter):
        return benchmark(baseline, candidate, make_input, repeats, warmup, 2, clock)
    assert_names(fails_with(check_fair_benchmark, fair_speedup), "not threads=")


def test_the_cases_separate_the_value_mistakes():
    """On every case the median speedup differs from what each value mistake returns, and they from each other."""
    for _, _, times, _ in CASES:
        values = [_median_speedup(times)] + [mistake(times) for mistake, _ in VALUE_MISTAKES]
        for i, a in enumerate(values):
            assert not any(same(a, b, rtol=1e-3) for b in values[i + 1:])


def test_the_rig_logs_threads_and_charges_fake_time():
    rig = Rig({"baseline": [1.0], "candidate": [0.5]}, warmup=1)
    x = rig.make_input()
    rig.baseline(x)
    start = rig.clock()
    with measure.threads(1):
        rig.baseline(x)
    assert rig.clock() - start == 1.0 and rig.now == 3.0 + 5.0 + 1.0
    assert [(event, threads) for event, threads, _ in rig.log][-2:] == [("baseline", 1), ("clock", None)]


def test_check_fair_benchmark_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_fair_benchmark(stub)
