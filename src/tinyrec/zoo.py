"""Every model of chapters 0–5 in the form it would be served, so that one report card can compare them.

A :class:`Served` model scores users from their histories (``model(users, history)`` -> ``[b, n_items]``,
as every model of the book does), recommends top-``k`` lists with the seen items excluded, and names the
*artefact* a deployment would ship: the tensors written to disk, quantization scales and sparse indices
included. Bytes are :func:`tinyrec.measure.saved_bytes` of that artefact, never a count of parameters
times four. Quantized and sparse models really serve from their compact form (dequantizing or sparse
multiplying at every call), so their latency is what that form costs.

:func:`book_models` gives chapters 0–2 (chapter 3's report card); :func:`later_models` adds the other
distillation losses of chapter 1 and the models of chapters 4 and 5, each chosen on validation by the
rule its lab used (:func:`deployable_student`, :func:`equal_bytes_tables`).
"""

import dataclasses

import numpy as np
import torch
from tqdm.auto import tqdm

from tinyrec import adaptive, cache, distill, evaluate, measure, models, parallel, pipeline, prune, quantize, recipes

DEPLOY_RATIO = 200  # Lab 5a: the deployable student is at least 200 times smaller than the teacher's file
EQUAL_BYTES = {"width": 16, "bits": 4}  # Lab 5c: the budget is that of a uniform d = 16, int4 table
EQUAL_BYTES_RANKS = (16, 32)  # Lab 5c: the KD students' tables are also tried truncated to these ranks
TOP_K_LABELS = 100  # Lab 4d: the teacher's labels per user
GAP_DIM = 4  # Lab 4b: the smallest student of the capacity-gap sweep


@dataclasses.dataclass
class Served:
    """A model as served: ``model(users long [b], history float [b, n_items]) -> scores [b, n_items]``;
    ``artefact``: what is saved (a dict of tensors or a module); ``parameters``: the numbers it stores."""

    name: str
    family: str
    model: torch.nn.Module
    artefact: object
    parameters: int

    @property
    def bytes(self):
        return measure.saved_bytes(self.artefact)

    @torch.no_grad()
    def recommend(self, users, history, k=10):
        """Top-``k`` item ids, long ``[b, k]``, of each user's unseen items (``history > 0`` excluded)."""
        scores = self.model(users, history).float().masked_fill(history > 0, float("-inf"))
        return scores.topk(k, dim=1).indices


class ItemItem(torch.nn.Module):
    """Scores ``history @ W`` for an item-item weight ``W`` ``[n_items, n_items]`` held in a compact form:
    ``"int4"`` / ``"int8"`` rows (:func:`tinyrec.quantize.quantize_rows`, dequantized at every call),
    ``"csr"`` (``W`` pruned, multiplied as a sparse matrix) or ``"torchao-int8"`` (torchao's int8
    dynamic quantization: an integer matmul)."""

    def __init__(self, weight, form):
        super().__init__()
        self.form = form
        if form in ("int8", "int4"):
            self.rows = quantize.quantize_rows(weight, int(form[3:]))
        elif form == "csr":
            self.csr = prune.CSR.from_dense(weight.T.contiguous())  # rows = scored items: W^T @ history^T
            self.sparse = self.csr.to_torch()
        elif form == "torchao-int8":
            self.linear = quantize.torchao_int8_dynamic_linear(weight)
        else:
            raise ValueError(f"form must be 'int8', 'int4', 'csr' or 'torchao-int8', got {form!r}")

    def artefact(self):
        if self.form == "csr":
            return dataclasses.asdict(self.csr)
        return self.linear.state_dict() if self.form == "torchao-int8" else dataclasses.asdict(self.rows)

    def forward(self, users, history):
        if self.form == "csr":
            return (self.sparse @ history.T).T
        return self.linear(history) if self.form == "torchao-int8" else history @ self.rows.dequantize()


class QuantizedMF(torch.nn.Module):
    """BPR-MF with both tables quantized row by row; the batch's user rows and the item table are
    dequantized at every call. ``scale_dtype``: float32 or float16 scales and offsets."""

    def __init__(self, mf, bits, scale_dtype=torch.float32):
        super().__init__()
        self.user = quantize.quantize_rows(mf.user.weight.detach(), bits, scale_dtype=scale_dtype)
        self.item = quantize.quantize_rows(mf.item.weight.detach(), bits, scale_dtype=scale_dtype)

    def artefact(self):
        return {"user": dataclasses.asdict(self.user), "item": dataclasses.asdict(self.item)}

    def forward(self, users, history=None):
        rows = self.user
        codes = quantize.unpack(rows.packed[users], rows.bits, rows.shape[1]).float()
        user = rows.offset[users].float()[:, None] + rows.scale[users].float()[:, None] * codes
        return user @ self.item.dequantize().T


def _mf(name, family, model, artefact=None):
    weights = [model.user.weight, model.item.weight]
    return Served(name, family, model, artefact if artefact is not None else model.state_dict(),
                  sum(int(w.numel()) for w in weights))


def frequency_sharing(split):
    """Lab 2c's two frequency-aware sharing schemes at a quarter of d = 64's embedding parameters: both
    tables shared at d = 64, or the item table only at d = 32. Returns two :func:`recipes.trained_bpr`
    settings."""
    budget = (split.n_users + split.n_items) * 64 / 4
    items_only = split.n_items / ((budget - split.n_users * 32) // 32 + 0.5)  # the item rows that fit
    return [dict(dim=64, share={"kind": "frequency", "reduction": 4, "own": 0.75}),
            dict(dim=32, share={"kind": "frequency", "reduction": items_only, "own": 0.75, "tables": ["item"]})]


def book_models(split, seed):
    """Every model of chapters 0–2, trained (or loaded from the cache) as the chapters did, on ``split``
    with ``seed``; settings chosen on validation where a chapter chose them. Returns a list of
    :class:`Served`, the EASE teacher first."""
    train_matrix = split.matrix("train")
    teacher = recipes.trained_ease(split)
    weight = teacher.weight.detach()
    n = weight.numel()
    pruned = ItemItem(prune.magnitude_prune(weight, 0.9), "csr")
    subset = prune.ItemSubset.refit_ease(train_matrix, prune.popular_items(train_matrix, 500), teacher.lam)
    zoo = [Served("EASE (teacher)", "teacher", teacher, {"weight": weight}, n),
           Served("popularity", "baseline", models.Popularity(split.n_items).fit(train_matrix),
                  {"counts": torch.as_tensor(train_matrix.sum(axis=0)).float().reshape(-1)}, split.n_items)]
    for form in ("torchao-int8", "int8", "int4"):
        served = ItemItem(weight, form)
        zoo.append(Served(f"EASE {form}", "quantized teacher", served, served.artefact(), n))
    zoo += [Served("EASE pruned 90% (CSR)", "pruned teacher", pruned, pruned.artefact(), pruned.csr.nnz),
            Served("EASE 500 items, refit", "structured teacher", subset, {"weight": subset.weight, "kept": subset.kept},
                   subset.weight.numel())]

    plain, _ = recipes.trained_bpr(split, dim=64, seed=seed, progress=False)
    student, _ = recipes.trained_student(split, dim=64, seed=seed, progress=False, **recipes.LISTWISE_KD)
    zoo += [_mf("MF d=64", "matrix factorisation", plain), _mf("MF d=64 + KD", "distilled", student)]
    for bits, scale_dtype in ((8, torch.float32), (4, torch.float16)):
        quantized = QuantizedMF(student, bits, scale_dtype)
        scales = "" if scale_dtype == torch.float32 else ", fp16 scales"
        zoo.append(Served(f"MF d=64 + KD, int{bits}{scales}", "distilled + quantized", quantized,
                          quantized.artefact(), zoo[-1].parameters))
    sparse_mf, _ = recipes.pruned_bpr(split, (0.5, 0.75, 0.9), dim=64, seed=seed, progress=False)
    tables = {name: dataclasses.asdict(prune.CSR.from_dense(getattr(sparse_mf, name).weight.detach()))
              for name in ("user", "item")}
    svd, _ = recipes.truncated_bpr(split, rank=8, seed=seed, progress=False)
    d16, lr16 = recipes.tuned_bpr(split, seed=seed, dim=16)
    d16_kd, _ = recipes.trained_student(split, dim=16, seed=seed, lr=lr16, progress=False, **recipes.LISTWISE_KD)
    runs = [(*recipes.tuned_bpr(split, seed=seed, **settings), settings) for settings in frequency_sharing(split)]
    shared, lr_shared, sharing = max(runs, key=lambda run: evaluate.ndcg(run[0], split, "valid"))
    shared_kd, _ = recipes.trained_student(split, seed=seed, lr=lr_shared, progress=False, **recipes.LISTWISE_KD,
                                           **sharing)
    zoo += [Served("MF pruned 90% + fine-tune (CSR)", "pruned", sparse_mf, tables,  # stored sparse, served dense
                   sum(int((t != 0).sum()) for t in (sparse_mf.user.weight, sparse_mf.item.weight))),
            _mf("MF SVD rank 8 + fine-tune", "low rank", svd),
            _mf("MF d=16", "smaller", d16), _mf("MF d=16 + KD", "distilled", d16_kd),
            Served("MF shared rows", "shared", shared, shared.state_dict(), models.count_parameters(shared)),
            Served("MF shared rows + KD", "distilled", shared_kd, shared_kd.state_dict(),
                   models.count_parameters(shared_kd))]
    return zoo


def kd_students(split, seed):
    """Lab 1b's students of the two other distillation losses, pointwise and pairwise (ranking
    distillation), each at the settings Lab 1b chose on validation: BPR-MF d = 64 as trained. Returns a
    list of :class:`Served`."""
    losses = (("pointwise", "MF d=64 + pointwise KD"), ("ranking", "MF d=64 + pairwise KD (RD)"))
    return [_mf(name, "distilled", recipes.trained_student(split, seed=seed, progress=False, **recipes.CHOSEN[key])[0])
            for key, name in losses]


def topk_label_student(split, seed):
    """Lab 4d's listwise KD student distilled from the teacher's stored top-100 labels instead of its
    dense scores (:func:`tinyrec.parallel.topk_student`): BPR-MF d = 64. Returns a :class:`Served`."""
    model, _ = parallel.topk_student(split, k=TOP_K_LABELS, seed=seed, progress=False)
    return _mf(f"MF d=64 + KD from top-{TOP_K_LABELS} labels", "distilled", model)


def capacity_gap_students(split, seed):
    """Lab 4b's smallest students (BPR-MF d = :data:`GAP_DIM`): plain, distilled from EASE directly, and
    distilled through a teacher assistant whose size halves the gap (:func:`tinyrec.distill.assistant_dim`),
    each at the learning rate Lab 4b chose on validation (:func:`tinyrec.recipes.tuned_gap_student`).

    Loaded only, never trained: raises :class:`tinyrec.cache.NotCached` when Lab 4b has not trained them
    on this seed. Returns a list of three :class:`Served`."""
    ease = {"kind": "ease"}
    per_dim = split.n_users + split.n_items
    with cache.loading_only():
        middle = distill.assistant_dim(models.count_parameters(recipes.trained_ease(split)), GAP_DIM * per_dim, per_dim)
        _, middle_lr = recipes.tuned_gap_student(split, middle, ease, seed=seed)
        assistant = {"kind": "student", "dim": middle, "lr": middle_lr, "teacher": ease}
        found = [(f"MF d={GAP_DIM}", "smaller", None), (f"MF d={GAP_DIM} + KD", "distilled", ease),
                 (f"MF d={GAP_DIM} + KD via an assistant (d={middle})", "distilled", assistant)]
        return [_mf(name, family, recipes.tuned_gap_student(split, GAP_DIM, teacher, seed=seed)[0])
                for name, family, teacher in found]


def _best_on_validation(candidates, split, progress=False, label="validation"):
    """The key of ``candidates`` (``{key: model}``) whose model has the best validation NDCG@10; of ties,
    the first (as ``DataFrame.idxmax`` picks in the labs)."""
    quality = {key: evaluate.ndcg(model, split, "valid")
               for key, model in tqdm(candidates.items(), desc=label, disable=not progress, leave=False)}
    return max(quality, key=quality.get)


def deployable_student(split, seed, teacher_bytes, students=None, progress=False):
    """Lab 5a's deployable student: of every compressed KD student (:func:`tinyrec.pipeline.candidates` of
    :func:`tinyrec.pipeline.students`: distilled, pruned to a rank or not, quantized), the one with the best
    validation NDCG@10 among those at least :data:`DEPLOY_RATIO` times smaller than ``teacher_bytes`` (the
    teacher's saved bytes). ``students``: ``{dim: trained BPR-MF}``, loaded when None. Returns a
    :class:`Served` serving the :class:`tinyrec.pipeline.CompactMF`."""
    students = pipeline.students(split, seed) if students is None else students
    eligible = {setting: model for setting, model in pipeline.candidates(students).items()
                if measure.compression_ratio(teacher_bytes, measure.saved_bytes(model.artefact())) >= DEPLOY_RATIO}
    if not eligible:
        raise ValueError(f"no compressed student is {DEPLOY_RATIO}x smaller than {teacher_bytes} bytes")
    setting = _best_on_validation(eligible, split, progress, "deployable student")
    model = eligible[setting]
    return Served(f"pipeline: {setting.name}", "distilled + pruned + quantized", model, model.artefact(),
                  model.rank * (split.n_users + split.n_items))


def _stored_numbers(table):
    """Numbers a :class:`tinyrec.adaptive.MixedTable` stores: head rows, tail coordinates and the basis."""
    basis = 0 if table.basis is None else table.basis.numel()
    return int(np.prod(table.head.shape) + np.prod(table.tail.shape)) + basis


def equal_bytes_tables(split, seed, students=None, progress=False):
    """Lab 5c's comparison at equal bytes. The budget is each table of a uniform d = 16 factorisation at
    int4 with fp16 scales (:data:`EQUAL_BYTES`); within it, the best *uniform* table (of
    :func:`tinyrec.pipeline.candidates`) and the best *two-tier* table (:func:`tinyrec.adaptive.candidates`
    of the KD students' tables, whole or truncated to :data:`EQUAL_BYTES_RANKS`), each chosen on validation
    NDCG@10. ``students``: ``{dim: trained BPR-MF}``, loaded when None. Returns two :class:`Served`,
    uniform then adaptive."""
    students = pipeline.students(split, seed) if students is None else students
    budgets = tuple(adaptive.uniform_bytes(n, EQUAL_BYTES["width"], EQUAL_BYTES["bits"])
                    for n in (split.n_users, split.n_items))
    uniform = {setting.name: model for setting, model in pipeline.candidates(students).items()
               if model.user.nbytes <= budgets[0] and model.item.nbytes <= budgets[1]}
    tables = {}
    for dim, model in students.items():
        user, item = model.user.weight.detach(), model.item.weight.detach()
        tables[f"KD d={dim}"] = (user, item)
        tables.update({f"KD d={dim} → rank {rank}": prune.truncate_rank(user, item, rank)
                       for rank in EQUAL_BYTES_RANKS if rank < dim})
    train_matrix = split.matrix("train")
    counts = (np.asarray(train_matrix.sum(axis=1)).ravel(), np.asarray(train_matrix.sum(axis=0)).ravel())
    mixed = {f"{label}, {scheme}": model
             for (label, scheme), model in adaptive.candidates(tables, counts, budgets).items()}
    served = []
    for kind, family, grid in (("uniform", "distilled + quantized", uniform),
                               ("adaptive", "distilled + adaptive", mixed)):
        name = _best_on_validation(grid, split, progress, f"{kind} tables")
        model = grid[name]
        numbers = (model.rank * (split.n_users + split.n_items) if kind == "uniform"
                   else _stored_numbers(model.user) + _stored_numbers(model.item))
        served.append(Served(f"{kind}: {name}", family, model, model.artefact(), numbers))
    return served


def later_models(split, seed, teacher_bytes, progress=False):
    """What chapters 1, 4 and 5 add to :func:`book_models`, served: the other distillation losses
    (:func:`kd_students`), the top-K-label student (:func:`topk_label_student`), the capacity-gap students
    when Lab 4b has cached them (:func:`capacity_gap_students`), the deployable student
    (:func:`deployable_student`) and the equal-bytes tables (:func:`equal_bytes_tables`).

    ``teacher_bytes``: the teacher's saved bytes (the deployable student's ratio is against it). Returns
    ``(list of Served, list of what was left out because it is not cached, with the reason)``."""
    served, skipped = kd_students(split, seed) + [topk_label_student(split, seed)], []
    try:
        served += capacity_gap_students(split, seed)
    except cache.NotCached as missing:
        skipped.append(f"Lab 4b's d={GAP_DIM} students ({missing})")
    students = pipeline.students(split, seed)
    served.append(deployable_student(split, seed, teacher_bytes, students, progress))
    return served + equal_bytes_tables(split, seed, students, progress), skipped
