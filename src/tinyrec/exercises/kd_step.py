"""Exercise 1.2 (``01_exercise_kd_step``): one training step of a BPR-MF student on ``(1 − α)·BPR + α·KD``.

The learner's ``kd_step(student, optimizer, users, teacher_scores, seen, triples, T, alpha)`` computes the
BPR loss of the batch's (user, positive, negative) triples and the listwise KD term of its users (the
teacher's softmax over their unseen items at temperature ``T``), mixes them, and takes one optimizer step.
:func:`check_kd_step` runs it with plain SGD on hand-made float64 cases, so that the change of the
parameters *is* the gradient, and compares it with the step on :func:`tinyrec.models.bpr_loss` and
:func:`tinyrec.distill.listwise_kd_loss`. It names the source document's mistakes (raw teacher logits as
targets, no temperature or no ``T²``, a teacher that receives gradients) and the others — seen items not
masked (or masked in the target only), KL reversed, KD summed over users, BPR's sign or sum, α swapped or
missing, ``zero_grad`` forgotten (gradients accumulated over two steps), no step or two — alone or combined.
"""

import itertools

import torch
import torch.nn.functional as F

from tinyrec import distill, models
from tinyrec.exercises._core import case_error, correct, fn_name, same

__all__ = ["check_kd_step"]

LR = 0.1


# The KD term, (student scores [b, n], teacher scores [b, n], seen [b, n], T) -> scalar, and its mistakes.
def _masked_target_only(s, t, seen, T):
    """T²·KL(p ‖ q) with the seen items masked in the teacher's p but not in the student's q."""
    p = torch.softmax((t / T).masked_fill(seen, float("-inf")), dim=1)
    return T ** 2 * (torch.special.xlogy(p, p) - p * F.log_softmax(s / T, dim=1)).sum(dim=1).mean()


def _reversed(s, t, seen, T):
    """T²·KL(q ‖ p), both over the unseen items."""
    log_q = F.log_softmax((s / T).masked_fill(seen, float("-inf")), dim=1)
    log_p = F.log_softmax((t / T).masked_fill(seen, float("-inf")), dim=1)
    q = log_q.exp()  # 0 on the seen items; their log-probabilities set to 0 so that no NaN reaches the gradient
    terms = q * (log_q.masked_fill(seen, 0.0) - log_p.masked_fill(seen, 0.0))
    return T ** 2 * terms.sum(dim=1).mean()


KD_RAW_LOGITS = (
    "Raw teacher scores used as targets — the source document's mistake. F.cross_entropy accepts float "
    "targets only as probabilities; raw scores do not sum to 1 and can be negative, so a student equal to the "
    "teacher does not even minimise this. The target is softmax(teacher_scores / T) over the unseen items, "
    "and the term T² · KL(p ‖ q).")
KD_TERMS = {  # name -> (fn(s, t, seen, T), diagnosis); "right" first
    "right": (lambda s, t, seen, T: distill.listwise_kd_loss(s, t, T, exclude=seen), None),
    "no mask": (lambda s, t, seen, T: distill.listwise_kd_loss(s, t, T),
                "Seen items not masked: the KD term's softmaxes run over the whole catalogue. The user's "
                "training items are not candidates to recommend, and the teacher (EASE) scores them highest, so "
                "they would take most of the target. Set them to -inf in both softmaxes: "
                "(scores / T).masked_fill(seen, float('-inf'))."),
    "target only": (_masked_target_only,
                    "Seen items masked in the teacher's target only: the student's softmax still spreads over "
                    "them, so the term keeps pushing the seen items' scores down. Mask them on both sides."),
    "no T2": (lambda s, t, seen, T: distill.listwise_kd_loss(s, t, T, exclude=seen) / T ** 2,
              "Missing the T² factor: multiply the KL term by T**2, the scale at which α was chosen (it keeps "
              "the soft term's gradients from shrinking like 1/T² at high temperature)."),
    "T = 1": (lambda s, t, seen, T: distill.listwise_kd_loss(s, t, 1.0, exclude=seen),
              "No temperature: the softmaxes were taken at T = 1. Divide both the student's and the teacher's "
              "scores by T (and multiply the KL by T²)."),
    "reversed": (_reversed,
                 "KL in the reverse direction, KL(q ‖ p). Distillation takes the expectation under the teacher's "
                 "target: Σ p (log p − log q), p the teacher's, q the student's."),
    "sum": (lambda s, t, seen, T: distill.kd_loss(s, t, T, reduction="sum", mask=seen),
            "KD summed over the users of the batch instead of averaged: its size then grows with the batch, "
            "and α no longer means the same thing. Sum over the items, then take the mean over users."),
    "raw CE": (lambda s, t, seen, T: F.cross_entropy(s, t), KD_RAW_LOGITS),
    "raw CE / T": (lambda s, t, seen, T: F.cross_entropy(s / T, t / T), KD_RAW_LOGITS),
    "raw CE / T, T2": (lambda s, t, seen, T: T ** 2 * F.cross_entropy(s / T, t / T), KD_RAW_LOGITS),
}


def _bpr_right(student, triples):
    u, i, j = triples.unbind(dim=1)
    return models.bpr_loss(student.pair_scores(u, i), student.pair_scores(u, j))


BPR_TERMS = {  # name -> (fn(student, triples), diagnosis)
    "right": (_bpr_right, None),
    "swapped": (lambda student, tr: models.bpr_loss(student.pair_scores(tr[:, 0], tr[:, 2]),
                                                    student.pair_scores(tr[:, 0], tr[:, 1])),
                "BPR with the positive and the negative swapped: −log σ(s_ui − s_uj) rewards the *positive* "
                "(column 1) for scoring above the negative (column 2)."),
    "sum": (lambda student, tr: _bpr_right(student, tr) * len(tr),
            "BPR summed over the triples instead of averaged: its size grows with the batch, and the mix "
            "with α changes with it. Take the mean (tinyrec.models.bpr_loss does)."),
}
MIXES = {  # name -> (fn(bpr, kd, alpha), diagnosis)
    "right": (lambda bpr, kd, a: (1 - a) * bpr + a * kd, None),
    "swapped": (lambda bpr, kd, a: a * bpr + (1 - a) * kd,
                "α swapped: alpha weighs the *distillation* term, (1 − α)·BPR + α·KD; with α = 0.8 the teacher "
                "gets 80% of the loss."),
    "no 1 - alpha": (lambda bpr, kd, a: bpr + a * kd,
                     "BPR not weighted by (1 − α): the loss is (1 − α)·BPR + α·KD, a mixture, so that α = 1 means "
                     "the teacher only and α = 0 no teacher."),
}


def _loss(case, student, kd="right", bpr="right", mix="right"):
    t = case["teacher"].detach()
    kd_value = KD_TERMS[kd][0](student(case["users"]), t, case["seen"], case["T"])
    return MIXES[mix][0](BPR_TERMS[bpr][0](student, case["triples"]), kd_value, case["alpha"])


def _gradient(case, state, **mistakes):
    """The gradient of the loss (with ``mistakes``) at the parameters ``state``, flattened, and the loss."""
    student = _student(case, state)
    loss = _loss(case, student, **mistakes)
    grads = torch.autograd.grad(loss, list(student.parameters()))
    return torch.cat([g.flatten() for g in grads]), loss.item()


def _mistakes():
    """``[(options, diagnosis)]`` for every combination of the known mistakes, fewest first."""
    combos = []
    for kd, bpr, mix in itertools.product(KD_TERMS, BPR_TERMS, MIXES):
        texts = [d for d in (KD_TERMS[kd][1], BPR_TERMS[bpr][1], MIXES[mix][1]) if d]
        if texts:
            text = texts[0] if len(texts) == 1 else f"{len(texts)} mistakes:\n" + "\n".join(
                f"({i}) {d}" for i, d in enumerate(texts, start=1))
            combos.append((len(texts), {"kd": kd, "bpr": bpr, "mix": mix}, text))
    combos.sort(key=lambda combo: combo[0])  # stable: the order of the dicts breaks ties
    return [(options, text) for _, options, text in combos]


STEP_MISTAKES = _mistakes()


def _make_case(name, seed, n_users, n_items, batch, n_triples, T, alpha, hint, ease=False, teacher_grad=False,
               steps=1):
    """A hand-made batch: a BPR-MF student (dim 3, float64), the teacher's scores of the batch's users, their
    seen items (each user has some, and the EASE-like teacher scores them highest), and triples whose
    positives are seen items and negatives unseen ones."""
    g = torch.Generator().manual_seed(seed)
    users = torch.randperm(n_users, generator=g)[:batch].sort().values
    seen = torch.rand(batch, n_items, generator=g, dtype=torch.float64) < 0.3
    seen[:, 0], seen[:, -1] = True, False  # at least one seen and one unseen item per user
    if ease:
        teacher = 0.4 * torch.rand(batch, n_items, generator=g, dtype=torch.float64) + 0.3 * seen
    else:
        teacher = torch.randn(batch, n_items, generator=g, dtype=torch.float64)
    rows = torch.randint(batch, (steps, n_triples), generator=g)
    positives = torch.multinomial(seen[rows.flatten()].double(), 1, generator=g).reshape(steps, n_triples)
    negatives = torch.multinomial((~seen[rows.flatten()]).double(), 1, generator=g).reshape(steps, n_triples)
    triples = torch.stack([users[rows], positives, negatives], dim=2)  # [steps, m, 3]
    state = {"user.weight": 0.5 * torch.randn(n_users, 3, generator=g, dtype=torch.float64),
             "item.weight": 0.5 * torch.randn(n_items, 3, generator=g, dtype=torch.float64)}
    return {"name": name, "users": users, "teacher": teacher, "seen": seen, "all_triples": triples,
            "triples": triples[0], "T": T, "alpha": alpha, "state": state, "hint": hint,
            "teacher_grad": teacher_grad, "n": (n_users, n_items)}


HINT = ("loss = (1 − α) · mean over triples of −log σ(s_ui − s_uj) + α · T² · mean over users of "
        "Σ_unseen p (log p − log q), p = softmax(teacher / T), q = softmax(student(users) / T), seen items at -inf; "
        "then optimizer.zero_grad(), loss.backward(), optimizer.step().")
CASES = [
    _make_case("3 users of 5, 8 items, 6 triples, T = 0.5, α = 0.3", 0, 5, 8, 3, 6, 0.5, 0.3, HINT),
    _make_case("EASE-scale teacher, seen items scored highest, T = 0.05, α = 0.8", 1, 6, 10, 4, 7, 0.05, 0.8,
               "EASE scores a user's seen items highest: unmasked, they would take most of the target.", ease=True),
    _make_case("a teacher run with gradients (the source document's), T = 2, α = 0.6", 2, 5, 8, 3, 5, 2.0, 0.6,
               "Here teacher_scores requires grad, as when the teacher runs outside torch.no_grad().",
               teacher_grad=True),
    _make_case("two steps in a row on the same student and optimizer", 3, 5, 8, 3, 6, 0.5, 0.3,
               "Each step must use only its own batch's gradient.", steps=2),
]


def _student(case, state):
    student = models.BPRMF(*case["n"], dim=3).double()
    student.load_state_dict(state)
    return student


class _CountingSGD(torch.optim.SGD):
    """Plain SGD that counts its steps."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def _flat(student):
    return torch.cat([p.detach().flatten() for p in student.parameters()])


def _diagnose(case, delta, state, grad):
    """What is wrong with the parameter change ``delta`` of one step from ``state`` (right gradient ``grad``)."""
    if not torch.isfinite(delta).all():
        return ("the step put NaN (or inf) into the student's parameters. On a seen item log q = −inf, and "
                "0 · (−inf) or −inf − (−inf) is NaN — in the gradient too, even when torch.where hides it in the "
                "value. Give the seen items finite values before multiplying, e.g. log_q.masked_fill(seen, 0.0).")
    if torch.count_nonzero(delta) == 0:
        return ("the parameters did not change: compute the loss, call loss.backward(), then optimizer.step() "
                "(and optimizer.zero_grad() before backward, not between backward and step).")
    if same(delta, -2 * LR * grad, rtol=1e-6, atol=1e-10):
        return "optimizer.step() was called twice: one step per batch."
    for options, text in STEP_MISTAKES:
        wrong, _ = _gradient(case, state, **options)
        if same(delta, -LR * wrong, rtol=1e-6, atol=1e-10):
            return text
    return "the step differs from the step on (1 − α)·BPR + α·KD (no known mistake matches it)."


def _run_case(fn, case):
    """Run ``fn`` on ``case``; returns None when right, else (call, problem)."""
    student = _student(case, case["state"])
    optimizer = _CountingSGD(student.parameters(), lr=LR)
    state = {k: v.clone() for k, v in case["state"].items()}
    for step, triples in enumerate(case["all_triples"]):
        teacher = case["teacher"].clone().requires_grad_(case["teacher_grad"])
        before, steps_before = _flat(student), optimizer.steps
        call = (f"{fn_name(fn)}(student, optimizer, users={case['users'].tolist()}, teacher_scores, seen, "
                f"triples={triples.tolist()}, T={case['T']}, alpha={case['alpha']})"
                + (f", step {step + 1}" if len(case["all_triples"]) > 1 else ""))
        value = fn(student, optimizer, case["users"].clone(), teacher, case["seen"].clone(), triples.clone(),
                   case["T"], case["alpha"])
        delta = _flat(student) - before
        if not torch.equal(teacher.detach(), case["teacher"]):
            return call, ("it changed teacher_scores in place (masked_fill_, /=, ...): the caller's copy of the "
                          "teacher's scores is spoiled for every later step. Use out-of-place operations "
                          "(masked_fill, /), which return new tensors.")
        step_case = {**case, "triples": triples}
        grad, loss = _gradient(step_case, state)
        if not same(delta, -LR * grad, rtol=1e-6, atol=1e-10):
            if step == 1:
                first, _ = _gradient({**case, "triples": case["all_triples"][0]}, case["state"])
                if same(delta, -LR * (grad + first), rtol=1e-6, atol=1e-10):
                    return call, ("the second step used the first step's gradient as well: optimizer.zero_grad() "
                                  "is missing, so loss.backward() *adds* to the .grad left by the previous batch. "
                                  "Call optimizer.zero_grad() before loss.backward() in every step.")
            if optimizer.steps == steps_before and torch.count_nonzero(delta):
                return call, ("the parameters changed without optimizer.step(): take the step with the optimizer "
                              "you are given (it holds the learning rate and, for Adam, its statistics).")
            return call, _diagnose(step_case, delta, state, grad)
        if teacher.grad is not None and (teacher.grad != 0).any():
            return call, ("gradient flows into the teacher's scores — the source document's mistake (its teacher "
                          "runs with gradients). The teacher is frozen: use teacher_scores.detach() (or compute "
                          "the target under torch.no_grad()), so that no graph is kept through it.")
        try:
            got = float(value.detach() if isinstance(value, torch.Tensor) else value)
        except (TypeError, ValueError, RuntimeError):
            return call, f"it returned {value!r}: return the loss's value, loss.item()."
        if not same(got, loss, rtol=1e-6, atol=1e-10):
            return call, (f"the step is right but it returned {got:.6f}, not the loss it stepped on, {loss:.6f}: "
                          "return loss.item().")
        state = {k: v.detach().clone() for k, v in student.state_dict().items()}
    return None


def check_kd_step(fn):
    """Check ``fn(student, optimizer, users, teacher_scores, seen, triples, T, alpha) -> float``, one step
    on ``(1 − alpha)·BPR + alpha·listwise KD``, against the step on ``tinyrec.models.bpr_loss`` and
    ``tinyrec.distill.listwise_kd_loss``, with SGD on hand-made cases."""
    for case in CASES:
        found = _run_case(fn, case)
        if found:
            raise case_error(case["name"], *found, case["hint"])
    correct(fn_name(fn), "tinyrec.models.bpr_loss and tinyrec.distill.listwise_kd_loss",
            [case["name"] for case in CASES]
            + ["the teacher receives no gradient", "each step uses only its own batch's gradient"])
