"""tinyrec.exercises.soft_targets: check_soft_targets (Exercise 1.1) passes correct functions and names
each known mistake."""

import pytest
import torch

from tinyrec.exercises.soft_targets import check_soft_targets

from . import fails_with, stub


def soft(scores, temperature, exclude=None, dim=1, divide=True, stable=True, mask=True, zero_after=False,
         normalise=True, in_place=False):
    """A soft_targets with the given mistakes (the defaults make none)."""
    if in_place:
        scores /= temperature
        z = scores
    else:
        z = scores / temperature if divide else scores
    if exclude is not None and mask and not zero_after:
        z = z.masked_fill(exclude, float("-inf"))
    if stable:
        z = z - z.max(dim=dim, keepdim=True).values
    e = torch.exp(z)
    p = e / e.sum(dim=dim, keepdim=True) if normalise else e
    if exclude is not None and zero_after:
        p = p.masked_fill(exclude, 0.0)
    return p


def test_check_soft_targets_passes_correct_functions(capsys):
    check_soft_targets(soft)
    check_soft_targets(lambda s, T, exclude=None: torch.softmax(
        (s / T) if exclude is None else (s / T).masked_fill(exclude, -1e9), dim=-1))
    assert "Correct! soft agrees with torch.softmax (excluded items masked)" in capsys.readouterr().out


@pytest.mark.parametrize("fn, message", [
    (lambda s, T, exclude=None: soft(s, T, exclude, divide=False), "were not divided by the temperature"),
    (lambda s, T, exclude=None: soft(s * T * T, T, exclude), "multiplied by the temperature instead of divided"),
    (lambda s, T, exclude=None: soft(s, T, exclude, stable=False), "overflows float32"),
    (lambda s, T, exclude=None: soft(s, T, exclude, mask=False), "The excluded items kept their probability"),
    (lambda s, T, exclude=None: soft(s, T, exclude, zero_after=True), "set to 0 *after* the softmax"),
    (lambda s, T, exclude=None: soft(s, T, exclude, dim=0), "Normalised over the wrong dimension"),
    (lambda s, T, exclude=None: soft(s, T, exclude, normalise=False), "Not normalised: each row is proportional"),
    (lambda s, T, exclude=None: soft(s, T, exclude, normalise=False, stable=False), "sums to [3446.374     9.5244]"),
    (lambda s, T, exclude=None: soft(s, T, exclude) + 0.1, "its rows sum to [1.4 1.4], not 1"),
    (lambda s, T, exclude=None: soft(s, T, exclude).numpy(), "not a torch.Tensor"),
    (lambda s, T, exclude=None: soft(s, T, exclude, in_place=True), "changed its input in place"),
])
def test_check_soft_targets_names_the_mistake(fn, message):
    text = fails_with(check_soft_targets, fn)
    assert text.startswith("Case '") and message in text and "\nHint: " in text


def test_check_soft_targets_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_soft_targets(stub)
