"""The BPR training loop, and nothing else: it takes a model, trains it, and keeps its best state.

Which model to train (fresh, shared, pruned, a student) and where it is cached are decided by the
caller (:mod:`tinyrec.recipes`); what is added to the loss (a distillation term) and what happens after
each step (pruned weights put back to zero) are passed in as functions.
"""


import torch
from tqdm.auto import tqdm

from tinyrec.config import positive_int, resolve_seed
from tinyrec.evaluate import evaluate
from tinyrec.models import bpr_loss


def sample_negatives(users, positives, generator=None):
    """One uniformly random item per user that is not among the user's training positives.

    users: long ``[b]``; positives: bool ``[n_users, n_items]`` -> long ``[b]``. Items that hit a
    positive are redrawn until none does, so no "negative" is secretly a positive.
    """
    n_items = positives.shape[1]
    items = torch.randint(n_items, users.shape, generator=generator, device=users.device)
    hits = positives[users, items]
    while hits.any():
        items[hits] = torch.randint(n_items, (int(hits.sum()),), generator=generator, device=users.device)
        hits = positives[users, items]
    return items


def train_bpr(model, split, lr=1e-3, weight_decay=1e-5, batch_size=2048, max_epochs=300, patience=10, seed=None,
              progress=True, extra_loss=None, alpha=0.0, after_step=None):
    """Train ``model`` (anything with ``pair_scores(users, items)``, e.g. BPR-MF) with the BPR loss, keeping
    the state with the best validation NDCG@10. Modifies ``model`` in place and returns it.

    Each epoch draws one negative per training interaction (``seed`` drives the shuffling and the
    negatives; the model is trained on the device it is on) and takes Adam steps on batches of
    ``batch_size``; after it, the model is evaluated on the validation part (full ranking). The starting
    state is evaluated too (epoch 0), so fine-tuning never returns a model worse on validation than the
    one it was given. Training stops after ``patience`` epochs without improvement.

    ``extra_loss(model, users)`` (users: long ``[b]``, the distinct users of a batch -> scalar), e.g. a
    distillation term, makes each step minimise ``(1 - alpha) * BPR + alpha * extra_loss``.
    ``after_step(model)`` runs after every optimizer step, e.g. :func:`tinyrec.prune.keep_pruned`'s
    function that puts pruned weights back to zero.
    Returns ``(model, history)``: one ``{"epoch", "loss", "valid_ndcg@10"}`` per epoch, epoch 0 (the
    starting state, loss None) first.
    """
    if not 0.0 <= alpha <= 1.0 or (alpha > 0 and extra_loss is None):
        raise ValueError(f"alpha must be in [0, 1] (and > 0 only with an extra_loss), got {alpha!r}")
    batch_size, max_epochs = positive_int("batch_size", batch_size), positive_int("max_epochs", max_epochs)
    patience = positive_int("patience", patience)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(resolve_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    users = torch.as_tensor(split.train["user"].to_numpy(copy=True), device=device)
    items = torch.as_tensor(split.train["item"].to_numpy(copy=True), device=device)
    positives = split.mask("train", device=device)

    best = evaluate(model, split, "valid")["ndcg@10"]
    best_state, waited = _snapshot(model), 0
    history = [{"epoch": 0, "loss": None, "valid_ndcg@10": best}]
    label = f"{type(model).__name__}" + (" + distillation" if extra_loss else "")
    bar = tqdm(range(1, max_epochs + 1), desc=label, disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(users), generator=generator, device=device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            u, i = users[batch], items[batch]
            j = sample_negatives(u, positives, generator)
            loss = bpr_loss(model.pair_scores(u, i), model.pair_scores(u, j))
            if extra_loss is not None:
                loss = (1 - alpha) * loss + alpha * extra_loss(model, torch.unique(u))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            total += loss.item() * len(batch)
        score = evaluate(model, split, "valid")["ndcg@10"]
        history.append({"epoch": epoch, "loss": total / len(order), "valid_ndcg@10": score})
        bar.set_postfix(loss=f"{total / len(order):.4f}", valid_ndcg=f"{score:.4f}")
        if score > best:
            best, best_state, waited = score, _snapshot(model), 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    return model.eval(), history


def _snapshot(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}
