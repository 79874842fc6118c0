"""Exercise 1.4 (``01_exercise_pick_temperature``): choosing the temperature on the validation users.

:func:`check_temperature_choice` is handed the learner's results, their choice, their validation function,
the split and the EASE teacher; it tries the validation function on a popularity model (naming the test
items, another metric or cut-off, or training items left in), checks that the results are plausible and
that the choice is their argmax, and refuses a temperature whose soft target is nearly uniform.
"""

import math
import numbers

import torch

from tinyrec import evaluate, models
from tinyrec.exercises._core import fn_name, measurement_of

__all__ = ["check_temperature_choice"]


NEARLY_UNIFORM = 0.95  # a soft target spread over more than this share of a user's unseen items


def _effective_items(teacher_scores, seen, temperature):
    """Per user: ``e^H`` of ``softmax(teacher / T)`` over the unseen items, and the number of those items."""
    log_p = torch.log_softmax((teacher_scores / temperature).masked_fill(seen, float("-inf")), dim=1)
    entropy = torch.special.entr(log_p.exp()).sum(dim=1)
    return entropy.exp(), (~seen).sum(dim=1)


def _diagnose_validation_fn(validation_ndcg, split):
    """What is wrong with ``validation_ndcg(model)``, tried on a popularity model, or None; and its value."""
    probe = models.Popularity(split.n_items).fit(split.matrix("train"))
    valid = evaluate.evaluate(probe, split, "valid")["ndcg@10"]
    got = validation_ndcg(probe)
    if isinstance(got, dict):
        return (f"it returned a dict ({sorted(got)}): return the number, evaluate(...)['ndcg@10'].", valid)
    try:
        got = float(got)
    except (TypeError, ValueError):
        return f"it returned {got!r}: return the validation NDCG@10 as a float.", valid
    found = measurement_of(got, probe, split)
    if found is None:
        return None, valid
    if found == "test":
        return (f"it measures the *test* items: on a popularity model it returned {got:.4f}, its test NDCG@10, "
                f"while its validation NDCG@10 is {valid:.4f}. Choosing T by test NDCG@10 tunes the model on "
                "the test set, and the test number you then report is optimistic. Choose on 'valid'; "
                "evaluate on 'test' once, after every choice is made.", valid)
    if found == "training items":
        return ("it ranks the users' training items too: they must be excluded before ranking (they are "
                "never recommended). evaluate.evaluate(model, split, 'valid') does it.", valid)
    if found != "unknown":
        return f"it returned {found} ({got:.4f}), not NDCG@10 on 'valid' ({valid:.4f}).", valid
    return (f"on a popularity model it returned {got:.4f}; evaluate.evaluate(model, split, 'valid')"
            f"['ndcg@10'] gives {valid:.4f}.", valid)


def check_temperature_choice(results, best_T, validation_ndcg, split, teacher):
    """Check Exercise 1.4: ``results`` maps each temperature tried to the distilled student's validation
    NDCG@10, ``best_T`` is its argmax, ``validation_ndcg(model)`` measures NDCG@10 on ``split``'s
    validation items (tried on a popularity model), and ``best_T`` suits the score scale of ``teacher``,
    the EASE model the students were distilled from (its validation NDCG@10 bounds the results)."""
    def fail(problem, hint):
        raise AssertionError(f"{problem}\nHint: {hint}")

    if not isinstance(results, dict) or len(results) < 3:
        fail(f"results must be a dict {{temperature: validation NDCG@10}} with at least 3 temperatures, got "
             f"{results!r}.", "results = {T: validation_ndcg(train_student(T)) for T in temperatures}")
    clean = {}
    for T, value in results.items():
        if isinstance(T, bool) or not isinstance(T, numbers.Real) or not math.isfinite(T) or T <= 0:
            fail(f"the key {T!r} is not a temperature: keys must be numbers > 0.", "Use the temperatures as keys.")
        try:
            clean[T] = float(value)
        except (TypeError, ValueError):
            fail(f"results[{T}] = {value!r} is not a number.", "Store validation_ndcg(model), a float.")
    problem, popularity = _diagnose_validation_fn(validation_ndcg, split)
    if problem:
        fail(f"{fn_name(validation_ndcg)}(model): {problem}",
             "validation_ndcg(model) = evaluate.evaluate(model, split, 'valid')['ndcg@10'].")
    ceiling = evaluate.evaluate(teacher, split, "valid")["ndcg@10"] + 0.02
    for T, value in clean.items():
        if not popularity <= value <= ceiling:
            fail(f"results[{T:g}] = {value:.4f} is outside the plausible range [{popularity:.3f}, {ceiling:.3f}]: "
                 f"from the NDCG@10 of recommending the most popular movies to everyone ({popularity:.3f}) to "
                 f"just above the EASE teacher's ({ceiling - 0.02:.3f}), both on the validation items.",
                 "Below popularity the student is barely trained (learning rate, epochs) or learns a wrong "
                 "target; above the teacher, the number is probably not a validation NDCG@10.")
    if max(clean.values()) - min(clean.values()) < 1e-9:
        fail(f"every temperature gives the same NDCG@10 ({next(iter(clean.values())):.4f}): the temperature "
             "does not reach the training.", "Pass temperature=T to tinyrec.distill.student_objective.")
    best = max(clean, key=clean.get)
    if best_T not in clean:
        fail(f"best_T = {best_T!r} is not one of the temperatures you tried ({', '.join(f'{T:g}' for T in clean)}).",
             "best_T = max(results, key=results.get)")
    if best_T != best:
        fail(f"best_T = {best_T:g} has validation NDCG@10 {clean[best_T]:.4f}, but T = {best:g} has {clean[best]:.4f}: "
             "choose the temperature with the highest validation NDCG@10.", "best_T = max(results, key=results.get)")
    scores, seen = evaluate.score_all(teacher, split), split.mask("train")
    effective = {T: _effective_items(scores, seen, T) for T in clean}
    n_eff, n_unseen = effective[best_T]
    share = (n_eff / n_unseen).median().item()
    if share > NEARLY_UNIFORM:
        top = scores.masked_fill(seen, float("-inf")).max(dim=1).values
        middle = scores.masked_fill(seen, float("nan")).nanmedian(dim=1).values
        fail(f"T = {best_T:g} is far above the scale of the EASE teacher's scores: for the median user, its best "
             f"unseen movie scores only {(top - middle).median().item():.2f} above the median one. At T = {best_T:g}, "
             f"exp(z / T) ≈ 1 + z / T for every movie, so the soft target is nearly uniform: it spreads over "
             f"e^H = {n_eff.median().item():,.0f} of the user's {n_unseen.median().item():,} unseen movies "
             f"({share:.1%}). The ranking is still there, in differences of about z / T between nearly equal "
             "probabilities, and with the T² factor a student whose own scores were as flat would learn it as "
             "logit matching. But a trained BPR-MF student's scores spread over units, not hundredths: at this T "
             "its softmax is far from uniform, and the KD term mainly pulls it towards uniform — a regulariser, "
             "like label smoothing — which can raise validation NDCG@10 without passing on what the teacher "
             "knows (Lab 1a measures both spreads).",
             "Sweep temperatures on the scale of the teacher's score gaps (about 0.01 to 0.2) and choose among "
             "those; the effective number of movies e^H tells you how peaked each target is.")
    lines = [f"  T = {T:<6g} validation NDCG@10 = {value:.4f}   e^H = {effective[T][0].median().item():7,.1f} movies"
             f"{'   ← chosen' if T == best_T else ''}" for T, value in clean.items()]
    print(f"Correct! T = {best_T:g} has the highest NDCG@10 on the validation items (never the test items), "
          "and its soft target is not nearly uniform. e^H, the effective number of movies the soft target "
          "spreads over, is for the median user:", *lines, sep="\n")
