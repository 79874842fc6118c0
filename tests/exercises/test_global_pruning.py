"""tinyrec.exercises.global_pruning: check_global_pruning (Exercise 2.2) passes correct answers (any choice
among ties) and names each known mistake."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from tinyrec import prune
from tinyrec.exercises import global_pruning as exercise
from tinyrec.exercises.global_pruning import check_global_pruning

from . import assert_names, fails_with, stub


def masks(weights, sparsity, per_table=False, largest=True, signed=False, keep=None, threshold=None, check=True):
    """global_magnitude_masks with the given mistakes (the defaults make none)."""
    if check and not 0 <= sparsity <= 1:
        raise ValueError("sparsity must be in [0, 1]")
    if per_table:
        return [masks([w], sparsity)[0] for w in weights]
    flat = torch.cat([w.flatten() for w in weights])
    score = flat if signed else flat.abs()
    n_keep = flat.numel() - round(sparsity * flat.numel()) if keep is None else keep(flat.numel(), sparsity)
    if threshold:
        kept = torch.sort(score, descending=True).values[n_keep - 1]
        mask = score >= kept if threshold == ">=" else score > kept
    else:
        mask = torch.zeros(flat.numel(), dtype=torch.bool)
        mask[torch.topk(score, n_keep, largest=largest).indices] = True
    return [part.view(w.shape) for part, w in zip(mask.split([w.numel() for w in weights]), weights)]


def test_check_global_pruning_passes_correct_answers(capsys):
    check_global_pruning(masks)
    check_global_pruning(lambda ws, s: [m.flip(-1).flip(-1) for m in masks(ws, s)])
    assert "Correct! masks agrees with tinyrec.prune.magnitude_mask on the concatenated tensors" in capsys.readouterr().out


def test_check_global_pruning_accepts_any_choice_among_ties():
    def reversed_ties(weights, sparsity):  # keeps the *last* tied entries, not the first as the library does
        flipped = [w.flatten().flip(0) for w in reversed(weights)]
        kept = masks(flipped, sparsity)
        return [m.flip(0).view(w.shape) for m, w in zip(reversed(kept), weights)]
    _, weights, sparsity, ties, _ = exercise.PRUNING_CASES[2]
    assert ties and not all(torch.equal(a, b) for a, b in zip(reversed_ties(weights, sparsity),
                                                                masks(weights, sparsity)))
    check_global_pruning(reversed_ties)


def test_pruning_cases_without_ties_match_torch_global_unstructured():
    for _, weights, sparsity, ties, _ in exercise.PRUNING_CASES:
        holders = []
        for weight in weights:
            holder = nn.Module()
            holder.weight = nn.Parameter(weight.clone())
            holders.append(holder)
        torch_prune.global_unstructured([(h, "weight") for h in holders], pruning_method=torch_prune.L1Unstructured,
                                        amount=sparsity)
        theirs = torch.cat([h.weight_mask.bool().flatten() for h in holders])
        ours = prune.magnitude_mask(torch.cat([w.flatten() for w in weights]), sparsity)
        assert torch.equal(theirs, ours) or ties


@pytest.mark.parametrize("fn, message", [
    (lambda ws, s: masks(ws, s, per_table=True), "Each tensor was pruned on its own"),
    (lambda ws, s: masks(ws, s, largest=False), "It kept the *smallest* magnitudes"),
    (lambda ws, s: masks(ws, s, signed=True), "It ranked the signed values"),
    (lambda ws, s: masks(ws, 1 - s), "It kept a fraction `sparsity` of the entries"),
    (lambda ws, s: masks(ws, s, keep=lambda n, s: n - int(s * n)), "int() truncates sparsity · total"),
    (lambda ws, s: masks(ws, s, keep=lambda n, s: n - round(s * n) + 2), "it kept 16 of 28 entries, expected"),
    (lambda ws, s: masks(ws, s, threshold=">="), "Ties at the threshold were all kept"),
    (lambda ws, s: masks(ws, s, threshold=">"), "Ties at the threshold were all pruned"),
    (lambda ws, s: [m.float() for m in masks(ws, s)], "mask 0 is torch.float32: return torch.bool masks"),
    (lambda ws, s: [m.flatten() for m in masks(ws, s)], "mask 0 has shape [12]"),
    (lambda ws, s: torch.cat([m.flatten() for m in masks(ws, s)]), "it must return a list of 2 masks"),
    (lambda ws, s: masks([w.abs_() for w in ws], s), "it changed the weights in place"),
])
def test_check_global_pruning_names_the_mistake(fn, message):
    assert_names(fails_with(check_global_pruning, fn), message)


def test_check_global_pruning_explains_a_crash_at_sparsity_0():
    def kthvalue_at_zero(weights, sparsity):  # right, except that kthvalue(0) fails
        flat = torch.cat([w.flatten() for w in weights]).abs()
        flat.kthvalue(round(sparsity * flat.numel()))
        return masks(weights, sparsity)
    text = fails_with(check_global_pruning, kthvalue_at_zero)
    assert_names(text, "it raised RuntimeError")
    assert text.startswith("Case 'sparsity 0: nothing pruned'")


def test_check_global_pruning_wants_a_value_error():
    text = fails_with(check_global_pruning, lambda ws, s: masks(ws, min(s, 1.0), check=False))
    assert_names(text, "it did not raise ValueError")


def test_check_global_pruning_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_global_pruning(stub)
