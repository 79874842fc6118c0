"""Exercise 3.2 (``03_exercise_fair_benchmark``): a speedup measured fairly.

The learner writes ``fair_speedup(baseline, candidate, make_input, repeats=7, warmup=2, threads=1,
clock=time.perf_counter)``: the input made once by ``make_input()`` outside the timed region, both callables
at the same torch thread count (``with tinyrec.measure.threads(threads):``), ``warmup`` untimed calls of each,
then ``repeats`` timed calls of each, interleaved (baseline, candidate, baseline, ...), each timed with
``clock()``; it returns the baseline's median time over the candidate's (:func:`tinyrec.measure.speedup` of
the medians).

The answer is a procedure more than a number, so :func:`check_fair_benchmark` drives the learner's function
with a *fake* clock and instrumented callables (:class:`Rig`): the clock advances only when the callables
run (a warm-up call is slow, one timed call is an outlier, making the input costs time), and every call is
logged with torch's thread count at that moment.
From the log it names: the fake clock not used, the input made inside the timed region, the callables not
given the input, no warm-up, a single timed run, thread counts that differ (or ignore ``threads``, or are not
restored), baseline and candidate not interleaved; from the value: the mean instead of the median, the speedup
inverted.
"""

import numbers
import statistics

import torch

from tinyrec import measure
from tinyrec.exercises._core import case_error, correct, fn_name, same, which_mistake

__all__ = ["Rig", "check_fair_benchmark"]

COLD, INPUT_COST = 5.0, 3.0  # fake seconds: a call before warm-up, and making the input


class Rig:
    """A fake clock and instrumented ``baseline``, ``candidate``, ``make_input``, logging every event.

    ``times``: ``{"baseline": [...], "candidate": [...]}``, the fake duration of each timed call (the
    ``warmup`` calls before them take :data:`COLD` seconds each; calls beyond the list repeat its last value).
    ``log``: ``(event, torch threads, the input it received)`` tuples, events being ``"clock"``, ``"input"``,
    ``"baseline"``, ``"candidate"``.
    """

    def __init__(self, times, warmup):
        self.times, self.warmup, self.now, self.log, self.inputs = times, warmup, 0.0, [], []
        self.clock = self._clock
        self.baseline = self._caller("baseline")
        self.candidate = self._caller("candidate")

    def _clock(self):
        self.log.append(("clock", None, None))
        return self.now

    def make_input(self):
        """A new input object; costs :data:`INPUT_COST` fake seconds."""
        self.now += INPUT_COST
        token = object()
        self.inputs.append(token)
        self.log.append(("input", None, None))
        return token

    def _caller(self, name):
        def call(x):
            k = sum(event == name for event, _, _ in self.log)
            times = self.times[name]
            self.now += COLD if k < self.warmup else times[min(k - self.warmup, len(times) - 1)]
            self.log.append((name, torch.get_num_threads(), x))
        call.__name__ = name
        return call

    def calls(self, name=None):
        return [entry for entry in self.log if entry[0] in ("baseline", "candidate") and name in (None, entry[0])]


def _median_speedup(times):
    return measure.speedup(statistics.median(times["baseline"]), statistics.median(times["candidate"]))


VALUE_MISTAKES = [  # (fn(times) with this mistake, the diagnosis)
    (lambda t: measure.speedup(statistics.mean(t["baseline"]), statistics.mean(t["candidate"])),
     "It divided the *mean* times: one slow outlier (a page fault, another process, the garbage collector) "
     "moves a mean as much as it likes. Use the median of each callable's timed runs."),
    (lambda t: 1 / _median_speedup(t),
     "It returned the candidate's median over the baseline's, inverted: a faster candidate must give a "
     "speedup above 1, baseline median / candidate median."),
    (lambda t: 1 / measure.speedup(statistics.mean(t["baseline"]), statistics.mean(t["candidate"])),
     "It is inverted (candidate / baseline) and uses mean times: return baseline median / candidate median."),
]
CASES = [  # (name, keyword arguments, fake times of the timed calls, hint)
    ("7 runs after 2 warm-ups, one thread; the baseline has an outlier",
     dict(repeats=7, warmup=2, threads=1),
     {"baseline": [1.0, 1.02, 0.98, 9.0, 1.01, 0.99, 1.0], "candidate": [0.25] * 7},
     "median 1.0 s against 0.25 s: a speedup of 4."),
    ("5 runs after 1 warm-up, three threads; the candidate has an outlier",
     dict(repeats=5, warmup=1, threads=3),
     {"baseline": [2.0, 2.0, 2.1, 1.9, 2.0], "candidate": [1.0, 1.0, 6.0, 1.0, 1.1]},
     "median 2.0 s against 1.0 s: a speedup of 2."),
]


def _log_problem(rig, repeats, warmup, threads, before):
    """What is wrong with the events ``rig`` logged, or None."""
    events = [event for event, _, _ in rig.log]
    if "clock" not in events:
        return ("The clock it was given was never read: time with ``clock()`` (the argument, "
                "time.perf_counter by default), so that the check, or a finer clock, can be plugged in.")
    clocks = [i for i, event in enumerate(events) if event == "clock"]
    for i, event in enumerate(events):
        if event == "input" and clocks[0] < i < clocks[-1]:
            start = max(c for c in clocks if c < i)
            end = min(c for c in clocks if c > i)
            if any(e in ("baseline", "candidate") for e in events[start:end]):
                return ("make_input() ran inside the timed region (between two clock() readings around a call): "
                        "its cost is added to the model's. Make the input once, before any timing.")
    if not rig.inputs:
        return "make_input() was never called: make the input with it, and pass it to both callables."
    if any(x not in rig.inputs for _, _, x in rig.calls()):
        return "the callables were not given the input made by make_input(): call baseline(x) and candidate(x)."
    counts = {name: len(rig.calls(name)) for name in ("baseline", "candidate")}
    for name, n in counts.items():
        if n == 1 or n == warmup + 1:
            return (f"{name} was timed once: a single run says nothing about the spread, and one unlucky run "
                    f"decides the result. Time each callable repeats={repeats} times and take the medians.")
        if n == repeats:
            return (f"{name} was called {n} times, all timed: no warm-up. The first calls pay for lazy "
                    "initialisation, cold caches and memory allocation; make warmup untimed calls of each first.")
        if n != warmup + repeats:
            return (f"{name} was called {n} times: expected warmup + repeats = {warmup + repeats} "
                    f"({warmup} untimed, then {repeats} timed).")
    seen = {name: {t for _, t, _ in rig.calls(name)} for name in counts}
    if seen["baseline"] != seen["candidate"]:
        return (f"the baseline ran on {sorted(seen['baseline'])} torch threads and the candidate on "
                f"{sorted(seen['candidate'])}: different thread counts measure the machine, not the models. "
                "Run both inside one ``with tinyrec.measure.threads(threads):``.")
    if seen["baseline"] != {threads}:
        return (f"both ran on {sorted(seen['baseline'])} torch threads, not threads={threads}: "
                "use ``with tinyrec.measure.threads(threads):``.")
    if torch.get_num_threads() != before:
        return (f"torch's thread count was left at {torch.get_num_threads()} (it was {before}): "
                "``with tinyrec.measure.threads(threads):`` restores it.")
    names = [event for event, _, _ in rig.calls()]
    switches = sum(a != b for a, b in zip(names, names[1:]))
    if switches < repeats:
        return ("the baseline and the candidate were not interleaved: all runs of one, then all of the other. "
                "Anything that drifts meanwhile (CPU frequency, heat, another process) then favours one of them; "
                "alternate baseline and candidate in the same loop.")
    return None


def check_fair_benchmark(fair_speedup):
    """Check ``fair_speedup(baseline, candidate, make_input, repeats, warmup, threads, clock)`` with a fake
    clock and instrumented callables (:class:`Rig`) against the median speedup."""
    name = fn_name(fair_speedup)
    for case, kwargs, times, hint in CASES:
        rig = Rig(times, kwargs["warmup"])
        before = torch.get_num_threads()
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        call = f"{name}(baseline, candidate, make_input, {settings}, clock=clock)"
        try:
            result = fair_speedup(rig.baseline, rig.candidate, rig.make_input, clock=rig.clock, **kwargs)
            problem = _log_problem(rig, kwargs["repeats"], kwargs["warmup"], kwargs["threads"], before)
        finally:
            torch.set_num_threads(before)  # a learner's function that leaves it changed must not spoil the rest
        if not problem:
            expected = _median_speedup(times)
            if isinstance(result, bool) or not isinstance(result, numbers.Real):
                problem = f"it returned {result!r} ({type(result).__name__}): return the speedup as a float."
            elif not same(result, expected, rtol=1e-6, atol=1e-9):
                problem = (which_mistake(result, VALUE_MISTAKES, times, rtol=1e-6, atol=1e-9)
                           or f"expected {expected:.4g}, got {result:.4g}.")
        if problem:
            raise case_error(case, call, problem, hint)
    correct(name, "the median speedup, measured fairly (fake clock and logged calls),", [c[0] for c in CASES])
