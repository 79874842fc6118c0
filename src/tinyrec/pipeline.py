"""One deployable student: distil, prune, quantize — and the single file it ships as.

The three techniques of chapters 1–2 applied in a row to a matrix factorisation: a student distilled
from the teacher (:func:`students`: Lab 1b's listwise KD, cached by :mod:`tinyrec.recipes`), *pruned*
structurally to its best ``rank`` dimensions (:func:`tinyrec.prune.truncate_rank`: unstructured zeros
in a dense table save no bytes), and *quantized* row by row (:func:`tinyrec.quantize.quantize_rows`,
fp16 scales and offsets). :func:`compress` does prune and quantize in either order; :class:`CompactMF`
serves from the compact form; :func:`save` / :func:`load` write and read the one file a deployment
ships, and :func:`scores_in_fresh_process` checks that the file alone reproduces the scores.
"""

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from tinyrec import quantize, recipes
from tinyrec.config import positive_int
from tinyrec.prune import truncate_rank

ORDERS = ("prune-quantize", "quantize-prune")
FORMAT = "tinyrec.pipeline.CompactMF/1"


class CompactMF(torch.nn.Module):
    """Matrix factorisation served from two row-quantized tables (:class:`tinyrec.quantize.RowQuantized`):
    ``scores = dequantized user rows [b, r] @ dequantized item table [n_items, r]ᵀ``. Only the batch's
    user rows are dequantized per call; the item table is dequantized at every call (nothing float is
    kept beside the codes, so memory and latency are those of the compact form)."""

    def __init__(self, user, item):
        super().__init__()
        if user.shape[1] != item.shape[1]:
            raise ValueError(f"user and item tables must have the same width, got {user.shape} and {item.shape}")
        self.user, self.item = user, item

    @classmethod
    def from_tables(cls, user, item, bits, scale_dtype=torch.float16):
        """Quantize float tables user ``[n_users, r]`` and item ``[n_items, r]`` to ``bits`` per entry."""
        return cls(quantize.quantize_rows(user, bits, scale_dtype=scale_dtype),
                   quantize.quantize_rows(item, bits, scale_dtype=scale_dtype))

    def artefact(self):
        """What is saved: ``{"format", "user", "item"}``, each table its packed codes, scales, offsets,
        bits and shape (tensors, ints and tuples only, so ``torch.load(weights_only=True)`` reads it)."""
        return {"format": FORMAT, "user": dataclasses.asdict(self.user), "item": dataclasses.asdict(self.item)}

    @classmethod
    def from_artefact(cls, artefact):
        """The model back from :meth:`artefact`'s dict; a dict of another format is a ``ValueError``."""
        if not isinstance(artefact, dict) or artefact.get("format") != FORMAT:
            found = artefact.get("format") if isinstance(artefact, dict) else type(artefact).__name__
            raise ValueError(f"not a {FORMAT} artefact: format {found!r}")
        return cls(*(quantize.RowQuantized(**{**artefact[t], "shape": tuple(artefact[t]["shape"])})
                     for t in ("user", "item")))

    @property
    def bits(self):
        return self.user.bits

    @property
    def rank(self):
        return self.user.shape[1]

    def forward(self, users, history=None):
        rows = self.user
        codes = quantize.unpack(rows.packed[users], rows.bits, rows.shape[1]).float()
        user = rows.offset[users].float()[:, None] + rows.scale[users].float()[:, None] * codes
        return user @ self.item.dequantize().T


def compress(user, item, bits, rank=None, order="prune-quantize", scale_dtype=torch.float16):
    """A :class:`CompactMF` from a trained factorisation's float tables user ``[n_users, d]``, item
    ``[n_items, d]``.

    ``rank`` (``None``: no pruning) keeps the best ``rank`` dimensions of ``user @ itemᵀ``
    (:func:`tinyrec.prune.truncate_rank`). ``order="prune-quantize"`` truncates the float tables, then
    quantizes; ``"quantize-prune"`` quantizes first, truncates the dequantized tables, and quantizes the
    result again (what ships must be integer codes, so this order rounds twice).
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    user, item = user.detach().float().cpu(), item.detach().float().cpu()
    if rank is None:
        return CompactMF.from_tables(user, item, bits, scale_dtype)
    rank = positive_int("rank", rank)
    if order == "quantize-prune":
        first = CompactMF.from_tables(user, item, bits, scale_dtype)
        user, item = first.user.dequantize(), first.item.dequantize()
    return CompactMF.from_tables(*truncate_rank(user, item, rank), bits, scale_dtype)


def save(model, path):
    """Write ``model``'s artefact (a :class:`CompactMF`) to ``path`` with ``torch.save``. Returns the
    file's size in bytes."""
    if not isinstance(model, CompactMF):
        raise ValueError(f"model must be a CompactMF, got {type(model).__name__}")
    path = Path(path)
    torch.save(model.artefact(), path)
    return path.stat().st_size


def load(path):
    """The :class:`CompactMF` saved at ``path`` (read with ``weights_only=True``: no code runs)."""
    return CompactMF.from_artefact(torch.load(Path(path), weights_only=True))


_FRESH = """
import sys, torch
from tinyrec import pipeline
torch.set_num_threads(1)
users = torch.load(sys.argv[2], weights_only=True)
with torch.no_grad():
    torch.save(pipeline.load(sys.argv[1])(users), sys.argv[3])
"""


def scores_in_fresh_process(path, users, timeout=120):
    """Scores ``[len(users), n_items]`` of the artefact at ``path`` for ``users`` (long ``[b]``), computed
    by a new Python process that imports nothing of the caller's state: it loads the file and scores
    (one thread). Raises ``RuntimeError`` with the child's error output when it fails."""
    with tempfile.TemporaryDirectory() as folder:
        users_file, scores_file = Path(folder) / "users.pt", Path(folder) / "scores.pt"
        torch.save(torch.as_tensor(users, dtype=torch.long), users_file)
        done = subprocess.run([sys.executable, "-c", _FRESH, str(path), str(users_file), str(scores_file)],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"the fresh process failed ({done.returncode}):\n{done.stderr}")
        return torch.load(scores_file, weights_only=True)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One way through the pipeline: the student's ``dim``, the ``rank`` it is pruned to (``None``: not
    pruned), the ``bits`` per entry, and the ``order`` of pruning and quantizing."""

    dim: int
    rank: int = None
    bits: int = 8
    order: str = "prune-quantize"

    @property
    def name(self):
        if self.rank is None:
            return f"KD d={self.dim} → int{self.bits}"
        steps = (f"rank {self.rank}", f"int{self.bits}")
        return f"KD d={self.dim} → " + " → ".join(steps if self.order == "prune-quantize" else steps[::-1])


def candidates(students, bits=(8, 4, 2), ranks=(8, 16, 24, 32)):
    """Every :class:`Setting` of the grid, compressed: ``{Setting: CompactMF}``.

    ``students``: ``{dim: trained BPR-MF}`` (e.g. :func:`students`); each is quantized as it is at every
    ``bits``, and pruned to each of ``ranks`` below its ``dim`` in both orders (:func:`compress`).
    """
    out = {}
    for dim, model in students.items():
        user, item = model.user.weight, model.item.weight
        for rank in (None, *[r for r in ranks if r < dim]):
            for b in bits:
                for order in ORDERS if rank else ORDERS[:1]:
                    out[Setting(dim, rank, b, order)] = compress(user, item, b, rank, order)
    return out


def students(split, seed=None, dims=(16, 32, 64)):
    """The listwise KD students of EASE (Lab 1b's :data:`tinyrec.recipes.LISTWISE_KD`) at each of ``dims``,
    as :mod:`tinyrec.zoo` trains them: d = 64 at the default learning rate, every smaller d at the
    learning rate its plain BPR-MF chose on validation (:func:`tinyrec.recipes.tuned_bpr`).
    Returns ``{dim: trained BPR-MF}``."""
    out = {}
    for dim in dims:
        lr = {} if dim == 64 else {"lr": recipes.tuned_bpr(split, seed=seed, dim=dim)[1]}
        out[dim] = recipes.trained_student(split, dim=dim, seed=seed, progress=False, **lr, **recipes.LISTWISE_KD)[0]
    return out
