"""Exercise 2.2 (``02_exercise_global_pruning``): magnitude pruning ranked across several tensors.

:func:`check_global_pruning` compares the learner's masks with :func:`tinyrec.prune.global_magnitude_masks`
(any choice among tied weights passes), and recognises per-tensor pruning, the smallest or signed values
kept, ``sparsity`` kept instead of pruned, thresholds that keep or prune every tie, and ``int()`` for
``round()``.
"""

import math

import torch

from tinyrec import prune
from tinyrec.exercises._core import case_error, correct, fn_name, short, which_mistake

__all__ = ["check_global_pruning"]


def _flat(tensors):
    return torch.cat([t.detach().flatten() for t in tensors])


def _keeping(values, keep):
    """``prune.magnitude_mask`` of ``values`` keeping exactly ``keep`` entries (a count, not a sparsity)."""
    return prune.magnitude_mask(values, (values.numel() - keep) / values.numel())


def _n_keep(weights, sparsity):
    return prune._n_keep(sum(w.numel() for w in weights), sparsity)


def _threshold_masks(weights, sparsity, keep_ties):
    """Flat mask ``|w| >= t`` (``keep_ties``) or ``|w| > t``, t the smallest magnitude the library keeps."""
    flat = _flat(weights).abs()
    kept = flat[prune.magnitude_mask(flat, sparsity)]
    threshold = kept.min() if len(kept) else math.inf
    return flat >= threshold if keep_ties else flat > threshold


PRUNING_MISTAKES = [  # (fn(weights, sparsity) -> the flattened masks with this mistake, the diagnosis)
    (lambda ws, s: _flat([prune.magnitude_mask(w, s) for w in ws]),
     "Each tensor was pruned on its own at the same sparsity. Global pruning ranks the magnitudes of all "
     "the tensors together — concatenate them (torch.cat of the flattened tensors), keep the largest, split "
     "the mask back — so a tensor of small weights loses more than a tensor of large ones."),
    (lambda ws, s: ~_keeping(_flat(ws), sum(w.numel() for w in ws) - _n_keep(ws, s)),
     "It kept the *smallest* magnitudes: magnitude pruning removes the smallest |w| and keeps the largest "
     "(topk(..., largest=True), or argsort(descending=True))."),
    (lambda ws, s: prune.magnitude_mask(_flat(ws) - _flat(ws).min(), s),
     "It ranked the signed values, so large *negative* weights were pruned: rank by magnitude, w.abs()."),
    (lambda ws, s: prune.magnitude_mask(_flat(ws), 1 - s),
     "It kept a fraction `sparsity` of the entries: sparsity is the fraction set to zero, so keep "
     "total − round(sparsity · total) entries."),
    (lambda ws, s: _threshold_masks(ws, s, keep_ties=True),
     "Ties at the threshold were all kept: with |w| >= t, every weight whose magnitude equals the threshold "
     "survives, so more entries than asked are kept. Rank the entries (argsort or topk) and keep exactly "
     "the first total − round(sparsity · total)."),
    (lambda ws, s: _threshold_masks(ws, s, keep_ties=False),
     "Ties at the threshold were all pruned: with |w| > t, every weight whose magnitude equals the "
     "threshold goes, so fewer entries than asked are kept. Rank the entries (argsort or topk) and keep "
     "exactly the first total − round(sparsity · total)."),
]
_g = torch.Generator().manual_seed(3)


def _sign(*shape):
    """Random signs ±1 of ``shape``."""
    return torch.where(torch.rand(*shape, generator=_g) < 0.5, -1.0, 1.0)


PRUNING_CASES = [  # (name, weights, sparsity, whether magnitudes tie, hint)
    ("a user table of small weights and an item table of large ones, sparsity 0.5",
     [(0.05 + 0.3 * torch.rand(3, 4, generator=_g)) * _sign(3, 4), (0.5 + 2.5 * torch.rand(4, 4, generator=_g))
      * _sign(4, 4)], 0.5, False,
     "28 weights, keep 14: the 14 largest |w| of both tables together, wherever they are."),
    ("three tensors of different shapes (a bias too), sparsity 0.7",
     [torch.randn(2, 5, generator=_g), torch.randn(3, generator=_g), torch.randn(4, 2, generator=_g)], 0.7, False,
     "21 weights: round(0.7 · 21) = round(14.7) = 15 are pruned, 6 kept."),
    ("ties: exact zeros and five weights of magnitude 0.5, sparsity 0.5",
     [torch.tensor([[0.0, 0.0, 0.5, -0.5], [2.0, -1.0, 0.5, 0.0]]), torch.tensor([1.0, -0.5, 0.5, 3.0])], 0.5, True,
     "Keep 6 of 12: 3, 2, 1, −1, and any 2 of the five weights of magnitude 0.5."),
    ("sparsity 0: nothing pruned", [torch.randn(3, 3, generator=_g), torch.randn(5, generator=_g)], 0.0, False,
     "Sparsity 0 keeps every entry."),
]


def _diagnose_masks(result, weights, sparsity, ties):
    """What is wrong with ``result``, the learner's masks for ``weights`` at ``sparsity``, or None."""
    if not isinstance(result, (list, tuple)) or len(result) != len(weights):
        return f"it must return a list of {len(weights)} masks, one per tensor, got {type(result).__name__}."
    for k, (mask, weight) in enumerate(zip(result, weights)):
        if not isinstance(mask, torch.Tensor):
            return f"mask {k} is a {type(mask).__name__}, not a torch.Tensor."
        if tuple(mask.shape) != tuple(weight.shape):
            return f"mask {k} has shape {list(mask.shape)}; it must have its tensor's shape, {list(weight.shape)}."
        if mask.dtype != torch.bool:
            return (f"mask {k} is {mask.dtype}: return torch.bool masks (w[mask] selects with a bool mask only, "
                    "and a bool takes one byte where a float32 takes four).")
    kept, magnitude = _flat(result), _flat(weights).abs()
    keep = _n_keep(weights, sparsity)
    if ties:  # any choice among the tied magnitudes is right
        if int(kept.sum()) == keep and (kept.all() or magnitude[kept].min() >= magnitude[~kept].max()):
            return None
    elif torch.equal(kept, _flat(prune.global_magnitude_masks(weights, sparsity))):
        return None
    mistake = which_mistake(kept, PRUNING_MISTAKES, weights, sparsity, rtol=0, atol=0)
    if mistake:
        return mistake
    total = magnitude.numel()
    if int(kept.sum()) != keep:
        floor = total - int(sparsity * total)
        reason = (" int() truncates sparsity · total; use round()." if int(kept.sum()) == floor != keep else "")
        return (f"it kept {int(kept.sum())} of {total} entries, expected total − round(sparsity · total) = "
                f"{total} − {round(sparsity * total)} = {keep}.{reason}")
    return (f"it kept {keep} entries, but not the largest: a kept |w| = {magnitude[kept].min().item():.4g} is "
            f"smaller than a pruned |w| = {magnitude[~kept].max().item():.4g}.")


def check_global_pruning(global_magnitude_masks):
    """Check ``global_magnitude_masks(weights, sparsity) -> [bool masks]`` (one per tensor, same shapes,
    ``total − round(sparsity · total)`` entries kept, the largest |w| across all tensors) against
    ``tinyrec.prune.global_magnitude_masks`` (which, without ties, is also what
    ``torch.nn.utils.prune.global_unstructured`` keeps); with ties, any choice among the tied weights
    passes. A sparsity outside [0, 1] must raise ``ValueError``."""
    name = fn_name(global_magnitude_masks)
    for case, weights, sparsity, ties, hint in PRUNING_CASES:
        given = [w.clone() for w in weights]
        call = f"{name}([{', '.join(short(w) for w in weights)}], sparsity={sparsity})"
        try:
            result = global_magnitude_masks(given, sparsity)
        except NotImplementedError:  # the exercise's stub (a RuntimeError too)
            raise
        except (RuntimeError, IndexError) as error:
            raise case_error(case, call, f"it raised {type(error).__name__}: {error}. At sparsity {sparsity} "
                             f"{_n_keep(weights, sparsity)} entries are kept; choose them by ranking (argsort "
                             "or topk), which has no special case.", hint) from error
        problem = _diagnose_masks(result, weights, sparsity, ties)
        if not problem and not all(torch.equal(a, b) for a, b in zip(given, weights)):
            problem = "it changed the weights in place: return masks and leave the weights unchanged."
        if problem:
            raise case_error(case, call, problem, hint)
    weights = PRUNING_CASES[0][1]
    try:
        global_magnitude_masks([w.clone() for w in weights], 1.5)
    except ValueError:
        pass
    else:
        raise case_error("sparsity 1.5 is rejected", f"{name}(weights, sparsity=1.5)",
                         "it did not raise ValueError: a sparsity is a fraction in [0, 1].",
                         "if not 0 <= sparsity <= 1: raise ValueError(...)")
    correct(name, "tinyrec.prune.magnitude_mask on the concatenated tensors",
            [case[0] for case in PRUNING_CASES] + ["sparsity 1.5 is rejected"])
