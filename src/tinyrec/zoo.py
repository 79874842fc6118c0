"""Every model of chapters 0–2 in the form it would be served, so that one report card can compare them.

A :class:`Served` model scores users from their histories (``model(users, history)`` -> ``[b, n_items]``,
as every model of the book does), recommends top-``k`` lists with the seen items excluded, and names the
*artefact* a deployment would ship: the tensors written to disk, quantization scales and sparse indices
included. Bytes are :func:`tinyrec.measure.saved_bytes` of that artefact, never a count of parameters
times four. Quantized and sparse models really serve from their compact form (dequantizing or sparse
multiplying at every call), so their latency is what that form costs.
"""

import dataclasses

import torch

from tinyrec import evaluate, measure, models, prune, quantize, recipes


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
