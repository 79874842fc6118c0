"""Exercise 1.2 (``01_exercise_kd_loss``): Hinton's loss, ``T² · KL(softmax(teacher / T) ‖ softmax(student / T))``.

:func:`check_kd_loss` compares the learner's loss with :func:`tinyrec.distill.kd_loss` (``"batchmean"``)
and recognises the source document's mistakes (raw teacher logits as targets, no ``T²``, gradient into
the teacher) and the other classic ones, alone or combined; then it checks where the gradient goes.
"""

import itertools

import torch
import torch.nn.functional as F

from tinyrec import distill
from tinyrec.exercises._core import case_error, correct, fn_name, not_a_tensor, same, short, which_mistake

__all__ = ["check_kd_loss"]


def _entropy(logits, temperature):
    """Entropy of each row of ``softmax(logits / T)``: float ``[b]``."""
    return torch.special.entr(torch.softmax(logits / temperature, dim=1)).sum(dim=1)


# Each mistake is a change to how tinyrec.distill.kd_loss is called or its result used: (option, diagnosis).
KD_TEMPERATURE = {  # where T is missing -> (student, teacher) logits that make kd_loss use T = 1 there
    "student": (lambda s, t, T: (s * T, t),
                "No temperature on the student's side: its distribution must be taken at the same T as the "
                "teacher's, log_softmax(student_logits / T)."),
    "teacher": (lambda s, t, T: (s, t * T),
                "No temperature on the teacher's side: the soft targets are softmax(teacher_logits / T)."),
    "both": (lambda s, t, T: (s * T, t * T),
             "No temperature at all: divide both the student's and the teacher's logits by T."),
}
KD_REVERSED = ("KL in the reverse direction, KL(q_student ‖ p_teacher). Distillation takes the expectation "
               "under the teacher's soft targets: KL(p ‖ q) = Σ p (log p − log q). With F.kl_div(input, "
               "target), input is the student's log-probabilities and target the teacher's probabilities.")
KD_CROSS_ENTROPY = ("Cross-entropy with soft targets, −Σ p log q, instead of the KL divergence: the gradient "
                    "is the same, but it exceeds the KL by the teacher's entropy, so it is not 0 when the "
                    "student equals the teacher. Use Σ p (log p − log q).")
KD_NO_T2 = ("Missing the T² factor: multiply by T**2. The KL term's gradients shrink like 1/T² as T grows; "
            "T² restores their scale, so that changing T does not silently re-weight the soft term.")
KD_REDUCTION = {
    "sum": ("Reduction 'sum': summed over the rows of the batch, so the loss grows with the batch size. "
            "Sum over the classes, then take the mean over the rows ('batchmean')."),
    "mean": ("Reduction 'mean' over all elements (F.kl_div's default, reduction='mean', divides by "
             "rows × classes). KL sums over the classes and averages over the rows: reduction='batchmean'."),
}
KD_RAW_LOGITS = (
    "Raw teacher logits used as targets — the source document's mistake. F.cross_entropy (and "
    "nn.CrossEntropyLoss) accepts float targets only as class *probabilities*; logits can be negative and "
    "do not sum to 1, so this is not a divergence from anything, and a student equal to the teacher does "
    "not minimise it. The target is softmax(teacher_logits / T), and the loss T² · KL(p ‖ q).")
KD_PROBABILITIES_AS_INPUT = (
    "F.kl_div(input, target) expects the student's *log*-probabilities as input: you passed probabilities "
    "(softmax instead of log_softmax), so it computed Σ p (log p − q).")


def _kd_variant(temperature_missing=None, reversed_kl=False, cross_entropy=False, t2=True, reduction="batchmean"):
    """``fn(s, t, T)``: ``tinyrec.distill.kd_loss`` with the given mistakes (the defaults make none)."""
    def loss(s, t, T):
        if temperature_missing:
            s, t = KD_TEMPERATURE[temperature_missing][0](s, t, T)
        target, other = (s, t) if reversed_kl else (t, s)
        rows = distill.kd_loss(other, target, T, reduction="none")
        if cross_entropy:
            rows = rows + T ** 2 * _entropy(target, T)
        rows = rows if t2 else rows / T ** 2
        return {"batchmean": rows.mean(), "sum": rows.sum(), "mean": rows.sum() / s.numel()}[reduction]
    return loss


def _kd_mistakes():
    """Every combination of the known mistakes, fewest first: ``[(fn(s, t, T), diagnosis)]``."""
    combos = []
    for temperature_missing, reversed_kl, cross_entropy, t2, reduction in itertools.product(
            [None, *KD_TEMPERATURE], [False, True], [False, True], [True, False], ["batchmean", *KD_REDUCTION]):
        diagnoses = [KD_TEMPERATURE[temperature_missing][1] if temperature_missing else None,
                     KD_REVERSED if reversed_kl else None, KD_CROSS_ENTROPY if cross_entropy else None,
                     None if t2 else KD_NO_T2, KD_REDUCTION.get(reduction)]
        diagnoses = [d for d in diagnoses if d]
        if diagnoses:
            text = diagnoses[0] if len(diagnoses) == 1 else f"{len(diagnoses)} mistakes:\n" + "\n".join(
                f"({i}) {d}" for i, d in enumerate(diagnoses, start=1))
            combos.append((len(diagnoses), _kd_variant(temperature_missing, reversed_kl, cross_entropy, t2,
                                                       reduction), text))
    combos.sort(key=lambda combo: combo[0])  # stable: the order of the axes breaks ties
    raw = [(lambda s, t, T, a=a, b=b, f=f, r=r: f(T) * F.cross_entropy(a(s, T), b(t, T), reduction=r),
            KD_RAW_LOGITS)
           for a, b in itertools.product([lambda x, T: x, lambda x, T: x / T], repeat=2)
           for f in (lambda T: 1.0, lambda T: T ** 2) for r in ("mean", "sum")]
    as_input = [(lambda s, t, T, f=f: f(T) * F.kl_div(torch.softmax(s / T, 1), torch.softmax(t / T, 1),
                                                      reduction="batchmean"), KD_PROBABILITIES_AS_INPUT)
                for f in (lambda T: T ** 2, lambda T: 1.0)]
    return raw + as_input + [(fn, text) for _, fn, text in combos]


KD_MISTAKES = _kd_mistakes()
_generator = torch.Generator().manual_seed(0)
_SAME = torch.tensor([[1.0, -2.0, 0.5, 3.0], [0.0, 0.0, 4.0, -1.0]])
# (name, student logits, teacher logits, T, hint)
KD_CASES = [
    ("3 examples, 5 classes, T = 2", 2 * torch.randn(3, 5, generator=_generator),
     2 * torch.randn(3, 5, generator=_generator), 2.0,
     "loss = T² · Σ_i p_i (log p_i − log q_i), with p = softmax(teacher / T), q = softmax(student / T), "
     "summed over the 5 classes and averaged over the 3 rows."),
    ("a student equal to the teacher, T = 4", _SAME, _SAME.clone(), 4.0,
     "KL(p ‖ p) = 0: a student that already matches the teacher has nothing left to learn."),
    ("EASE-scale scores, 4 users, 30 items, T = 0.05", 0.6 * torch.rand(4, 30, generator=_generator),
     0.6 * torch.rand(4, 30, generator=_generator) - 0.05, 0.05,
     "With T = 0.05 the logits / T reach 12: the same formula, no special case."),
    ("large logits, T = 1", torch.tensor([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 0.0]]),
     torch.tensor([[0.0, 1000.0, 990.0], [0.0, 2.0, 1.0]]), 1.0,
     "softmax(z) underflows to exactly 0 for far-off classes, and log(0) = -inf: take log_softmax directly."),
]


def _diagnose_kd(result, expected, s, t, T):
    if isinstance(result, torch.Tensor) and result.numel() == s.shape[0] and result.dim() == 1:
        return ("it returned one value per row (shape [b]): reduce to a scalar, the mean over rows "
                "('batchmean').")
    problem = not_a_tensor(result, ())
    if problem:
        return problem
    if not torch.isfinite(result):
        return (f"it returned {result.item()}: log(softmax(x)) underflows to log(0) = -inf for far-off "
                "classes. Use F.log_softmax, which computes log-probabilities without forming them.")
    if same(result, expected):
        return None
    return (which_mistake(result, KD_MISTAKES, s, t, T)
            or f"expected {expected.item():.6f}, got {result.item():.6f}.")


def check_kd_loss(fn):
    """Check ``fn(student_logits, teacher_logits, T) -> scalar tensor`` against ``tinyrec.distill.kd_loss``
    (``"batchmean"``), then that the gradient reaches the student and never the teacher."""
    for name, s, t, T, hint in KD_CASES:
        expected = distill.kd_loss(s, t, T)
        call = f"{fn_name(fn)}(student_logits={short(s)}, teacher_logits={short(t)}, T={T})"
        problem = _diagnose_kd(fn(s.clone(), t.clone(), T), expected, s, t, T)
        if problem:
            raise case_error(name, call, problem, hint)
    name, s, t, T, hint = KD_CASES[0]
    student, teacher = s.clone().requires_grad_(True), t.clone().requires_grad_(True)
    loss = fn(student, teacher, T)
    call = f"{fn_name(fn)}(student_logits, teacher_logits, T={T}) with both requiring gradients"
    if not loss.requires_grad:
        raise case_error(name, call, "the loss does not depend on the student's logits through autograd: no "
                         "gradient would train the student. Do not detach the student's side.", hint)
    to_student, to_teacher = torch.autograd.grad(loss, [student, teacher], allow_unused=True)
    if to_teacher is not None and to_teacher.abs().max() > 0:
        raise case_error(name, call, (
            "gradient flows into the teacher's logits — the source document's mistake (its teacher runs with "
            "gradients, outside eval() and no_grad()). The teacher is fixed: use teacher_logits.detach() "
            "inside the loss, and compute the logits under torch.no_grad() with the teacher in eval() mode."),
            hint)
    student_ref = s.clone().requires_grad_(True)
    reference, = torch.autograd.grad(distill.kd_loss(student_ref, t, T), [student_ref])
    if to_student is None or not same(to_student, reference):
        raise case_error(name, call, "the value is right but the gradient with respect to the student's "
                         "logits is not: part of the student's side is detached.", hint)
    correct(fn_name(fn), "tinyrec.distill.kd_loss", [case[0] for case in KD_CASES]
            + ["the gradient reaches the student, and not the teacher"])
