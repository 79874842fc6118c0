"""Exercise 4.2 (``04_exercise_assistant_chain``): a teacher-assistant chain (Mirzadeh et al., AAAI 2020).

Two parts. :func:`check_assistant_size` compares the learner's ``assistant_size(teacher_params,
student_params, params_per_dim)`` with :func:`tinyrec.distill.assistant_dim` — the embedding size whose
parameter count splits the gap into two equal *ratios* — and names the known mistakes: the arithmetic
midpoint of the parameter counts, the midpoint's parameters returned instead of a dimension, the ratio of
one step returned instead of a size, the midpoint rounded down or rounded linearly (which, between two
sizes, can pick the one with the larger ratio), a float.

:func:`check_chain` runs the learner's ``teacher_assistant_chain(teacher, assistant, student, users,
distil)`` on small probe models that record every call: in which mode (``train()`` / ``eval()``) and whether
gradients were on, and what they returned. The check's ``distil(model, target_scores)`` trains ``model``
towards the targets and, like a training loop, leaves it in training mode. The chain must score the teacher
in ``eval()`` under ``torch.no_grad()``, distil the assistant from those scores, then score the *trained*
assistant the same way and distil the student from it. Named mistakes: the assistant taught by the student
(or the student by the teacher: no assistant), the assistant scored before it was trained, the two steps in
the wrong order, a teacher or assistant scored in training mode (its dropout on) or with gradients, a
target with a graph attached, the teacher's weights changed while teaching, not returning the student.
"""

import numbers

import torch
from torch import nn

from tinyrec import distill
from tinyrec.exercises._core import case_error, correct, fn_name, which_mistake

__all__ = ["check_assistant_size", "check_chain"]


SIZE_MISTAKES = [  # (fn(teacher_params, student_params, params_per_dim) with this mistake, the diagnosis); the
    # first that matches is named, so rounding to the nearest comes before rounding down (where it is wrong, both agree)
    (lambda t, s, p: round((t + s) / 2 / p),
     "It took the arithmetic midpoint (teacher + student) / 2: that assistant is about half the teacher, so the "
     "first step is a ratio of 2 and the second carries almost the whole gap. The gap is a ratio: balance the "
     "ratios, teacher / assistant = assistant / student, i.e. the geometric midpoint sqrt(teacher · student)."),
    (lambda t, s, p: round((t * s) ** 0.5),
     "It returned the midpoint's number of parameters, sqrt(teacher · student): return the embedding size d, "
     "that number divided by params_per_dim (an MF's parameters per dimension, n_users + n_items)."),
    (lambda t, s, p: round((t * s) ** 0.5 / p),
     "It rounded the dimension to the nearest integer: the midpoint is geometric, so the nearest size is the "
     "nearest in ratio, not in difference. Compare max(teacher / assistant, assistant / student) for the two "
     "whole sizes around the midpoint and keep the smaller."),
    (lambda t, s, p: int((t * s) ** 0.5 / p),
     "It rounded down: between the two whole sizes around the midpoint, pick the one whose larger ratio, "
     "max(teacher / assistant, assistant / student), is smaller."),
    (lambda t, s, p: round((t / s) ** 0.5),
     "It returned the ratio of each step, sqrt(teacher / student), not a size: the assistant's parameters are "
     "student · sqrt(teacher / student) = sqrt(teacher · student); divide by params_per_dim for d."),
    (lambda t, s, p: round((t * s) ** 0.5 / p) + 1,
     "It is one too large: compare max(teacher / assistant, assistant / student) for floor and ceil of "
     "sqrt(teacher · student) / params_per_dim and keep the smaller."),
]
SIZE_CASES = [  # (name, (teacher params, student params, params per dim), hint)
    ("EASE (2,829,124 weights) to BPR-MF d = 4 on MovieLens-100k", (2_829_124, 10_500, 2_625),
     "sqrt(2,829,124 · 10,500) = 172,355 parameters, 65.7 dimensions of 943 + 1,682 = 2,625 each: d = 66 gives "
     "ratios 16.3 and 16.5."),
    ("BPR-MF d = 256 to d = 4", (672_000, 10_500, 2_625), "The geometric midpoint of 256 and 4 is 32."),
    ("a toy catalogue where rounding matters", (610, 100, 100),
     "sqrt(610 · 100) / 100 = 2.47: d = 2 gives ratios 3.05 and 2, d = 3 gives 2.03 and 3; the larger is "
     "smaller for d = 3."),
]


def check_assistant_size(assistant_size):
    """Check ``assistant_size(teacher_params, student_params, params_per_dim) -> int`` against
    :func:`tinyrec.distill.assistant_dim` on three cases."""
    passed = []
    for case, args, hint in SIZE_CASES:
        expected = distill.assistant_dim(*args)
        result = assistant_size(*args)
        call = f"{fn_name(assistant_size)}(teacher_params={args[0]:,}, student_params={args[1]:,}, params_per_dim={args[2]:,})"
        if isinstance(result, bool) or not isinstance(result, numbers.Integral):
            if isinstance(result, numbers.Real) and not isinstance(result, bool):
                problem = f"it returned {result!r}, a {type(result).__name__}: an embedding size is a whole number; return an int."
            else:
                problem = f"it returned {result!r} ({type(result).__name__}): return the dimension, an int."
            raise case_error(case, call, problem, hint)
        if result != expected:
            problem = (which_mistake(result, SIZE_MISTAKES, *args, equal=lambda a, b: a == b)
                       or f"expected d = {expected}, got {result}.")
            raise case_error(case, call, problem, hint)
        passed.append(f"{case}: d = {expected}")
    correct(fn_name(assistant_size), "tinyrec.distill.assistant_dim", passed)


class Probe(nn.Module):
    """A tiny scorer, ``model(users) -> [b, n_items]``, with dropout on its scores (so that training mode shows)
    that records every call: ``(name, training, grad enabled, version, output)``; ``version`` counts how often
    the check's ``distil`` trained it."""

    def __init__(self, name, n_users, n_items, dim, seed, log):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.user = nn.Parameter(torch.randn(n_users, dim, generator=g))
        self.item = nn.Parameter(torch.randn(n_items, dim, generator=g))
        self.dropout = nn.Dropout(0.5)
        self.name, self.log, self.version = name, log, 0

    def forward(self, users, history=None):
        scores = self.dropout(self.user[users] @ self.item.T)
        self.log.append({"name": self.name, "training": self.training, "grad": torch.is_grad_enabled(),
                         "version": self.version, "output": scores.detach().clone()})
        return scores


def _source(target, log):
    """The recorded call whose output equals ``target``, or None."""
    for call in reversed(log):
        if call["output"].shape == target.shape and torch.equal(call["output"], target.detach()):
            return call
    return None


CHAIN_CASES = [  # (name, (n_users, n_items), teacher mode, hint)
    ("fresh models, all in training mode", (6, 9), "train",
     "teacher.eval(); with torch.no_grad(): t = teacher(users); distil(assistant, t); then the same for the "
     "trained assistant and the student."),
    ("a teacher already in eval mode", (5, 7), "eval",
     "Put each model that scores targets in eval() mode yourself: distil leaves the assistant in training mode."),
]


def _chain_case(n_users, n_items, teacher_mode):
    log, targets = [], []
    teacher = Probe("teacher", n_users, n_items, 6, 0, log)
    assistant = Probe("assistant", n_users, n_items, 3, 1, log)
    student = Probe("student", n_users, n_items, 2, 2, log)
    teacher.train(teacher_mode == "train")
    models = {"teacher": teacher, "assistant": assistant, "student": student}

    def distil(model, target_scores):
        """Trains ``model`` towards ``target_scores`` (five SGD steps on the squared error); leaves it in
        training mode, as a training loop does."""
        name = next((n for n, m in models.items() if m is model), None)
        targets.append({"model": name, "target": target_scores, "source": _source(target_scores, log),
                        "requires_grad": getattr(target_scores, "requires_grad", False)})
        if name is None:
            return model
        model.train()
        optimizer = torch.optim.SGD([model.user, model.item], lr=0.05)
        for _ in range(5):
            loss = ((model.user @ model.item.T - target_scores.detach()) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.version += 1
        return model

    return models, distil, targets


def _describe(call):
    if call is None:
        return "a tensor that none of the three models returned"
    return f"the {'trained ' if call['version'] else 'untrained ' if call['name'] != 'teacher' else ''}{call['name']}'s scores"


def _step_problem(step, model, expected_source, target):
    """What is wrong with the ``step``-th call of distil (``model`` taught from ``target``), or None."""
    source = target["source"]
    if target["model"] != model:
        return (f"distil's {step} call trained {target['model'] or 'a model that is not one of the three'}; "
                f"the chain is distil(assistant, teacher's scores), then distil(student, trained assistant's scores).")
    if source is None or source["name"] != expected_source:
        if model == "assistant" and source is not None and source["name"] == "student":
            return ("the assistant was distilled from the student: the assistant learns from the teacher, and "
                    "then teaches the student.")
        if model == "student" and source is not None and source["name"] == "teacher":
            return ("the student was distilled from the teacher directly: no assistant in between. Score the "
                    "trained assistant and distil the student from its scores.")
        return f"the {model} was distilled from {_describe(source)}; expected the {expected_source}'s scores."
    if expected_source == "assistant" and source["version"] == 0:
        return ("the student learned from the assistant's scores taken *before* the assistant was trained: score "
                "the assistant after distil(assistant, ...) has returned.")
    if source["training"]:
        return (f"the {expected_source} was scored in training mode: its dropout was on, so its targets are noisy "
                f"and not what it predicts. Call {expected_source}.eval() before scoring it"
                + (" (distil leaves it in training mode)." if expected_source == "assistant" else "."))
    if target["requires_grad"] or source["grad"]:
        return (f"the {expected_source} was scored with gradients on: wrap the scoring in torch.no_grad(), so that "
                f"the {expected_source} is frozen and no graph is built through it (detaching the scores afterwards "
                "still builds the graph first) — the source document's mistake, one step further.")
    return None


def check_chain(teacher_assistant_chain):
    """Check ``teacher_assistant_chain(teacher, assistant, student, users, distil) -> student`` on probe models."""
    passed = []
    for case, (n_users, n_items), mode, hint in CHAIN_CASES:
        models, distil, targets = _chain_case(n_users, n_items, mode)
        before = {n: (m.user.detach().clone(), m.item.detach().clone()) for n, m in models.items()}
        users = torch.arange(n_users)
        call = f"{fn_name(teacher_assistant_chain)}(teacher, assistant, student, users={users.tolist()}, distil)"
        result = teacher_assistant_chain(models["teacher"], models["assistant"], models["student"], users, distil)
        problem = None
        if len(targets) != 2:
            problem = (f"distil was called {len(targets)} time(s): the chain has two steps, "
                       "distil(assistant, teacher's scores), then distil(student, trained assistant's scores).")
        elif targets[0]["model"] == "student" and targets[1]["model"] == "assistant":
            problem = ("the two steps ran in the wrong order: the student was distilled before the assistant was "
                       "trained. Train the assistant from the teacher first.")
        else:
            problem = (_step_problem("first", "assistant", "teacher", targets[0])
                       or _step_problem("second", "student", "assistant", targets[1]))
        if problem is None:
            teacher = models["teacher"]
            if any(not torch.equal(a, b) for a, b in zip(before["teacher"], (teacher.user, teacher.item))):
                problem = "the teacher's weights changed: it only scores; distil trains the assistant and the student."
            if problem is None and result is not models["student"]:
                problem = f"it returned {type(result).__name__ if not isinstance(result, Probe) else 'the ' + result.name}: return the (trained) student."
        if problem:
            raise case_error(case, call, problem, hint)
        passed.append(case)
    correct(fn_name(teacher_assistant_chain), "the chain teacher → assistant → student", passed)
