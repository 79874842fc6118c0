"""tinyrec.exercises.compact_labels: check_compact_labels passes a correct answer and names each known mistake."""

import pytest
import torch

from tinyrec.exercises.compact_labels import check_compact_labels

from . import assert_names, fails_with, stub


def id_type(n_items):
    return next(t for t in (torch.uint8, torch.int16, torch.int32, torch.int64) if n_items - 1 <= torch.iinfo(t).max)


def right(scores, seen, k):
    order = scores.masked_fill(seen, float("-inf")).sort(dim=1, descending=True, stable=True).indices[:, :k]
    return order.to(id_type(scores.shape[1])), scores.gather(1, order).half()


def with_ids(dtype):
    def answer(scores, seen, k):
        items, values = right(scores, seen, k)
        return items.long().to(dtype), values
    return answer


def with_scores(dtype):
    def answer(scores, seen, k):
        items, values = right(scores, seen, k)
        return items, scores.gather(1, items.long()).to(dtype)
    return answer


def unstable(scores, seen, k):
    """torch.topk: the right scores, but which of the tied items (and in which order) it keeps is unspecified."""
    values, order = scores.masked_fill(seen, float("-inf")).topk(k, dim=1)
    return order.to(id_type(scores.shape[1])), values.half()


def highest_id_first(scores, seen, k):
    """Ties by the higher item id: reverse the row, sort stably, map back."""
    n = scores.shape[1]
    flipped = scores.masked_fill(seen, float("-inf")).flip(1)
    order = (n - 1) - flipped.sort(dim=1, descending=True, stable=True).indices[:, :k]
    return order.to(id_type(n)), scores.gather(1, order).half()


def reorder_within_ties(scores, seen, k):
    """The right items, ties reversed within each group of equal scores."""
    items, values = right(scores, seen, k)
    by_id = items.long().sort(dim=1, descending=True, stable=True).indices  # higher id first ...
    items, values = items.gather(1, by_id), values.gather(1, by_id)
    by_score = values.float().sort(dim=1, descending=True, stable=True).indices  # ... within equal scores
    return items.gather(1, by_score), values.gather(1, by_score)


def with_seen(scores, seen, k):
    order = scores.sort(dim=1, descending=True, stable=True).indices[:, :k]
    return order.to(id_type(scores.shape[1])), scores.gather(1, order).half()


def probabilities(scores, seen, k):
    items, _ = right(scores, seen, k)
    p = torch.softmax(scores.masked_fill(seen, float("-inf")) / 0.05, dim=1)
    return items, p.gather(1, items.long()).half()


def test_a_correct_answer_passes(capsys):
    check_compact_labels(right)
    out = capsys.readouterr().out
    assert "Correct! right agrees with tinyrec.labels.top_k_labels" in out and "40,000-item" in out


@pytest.mark.parametrize("answer, message", [
    (with_ids(torch.int64), "the ids are torch.int64 (8 bytes each): 8× the bytes needed"),
    (with_ids(torch.int32), "the ids are torch.int32 (4 bytes each): 4× the bytes needed"),
    (with_scores(torch.float32), "the scores are torch.float32 (4 bytes each)"),
    (with_scores(torch.bfloat16), "the scores are bfloat16"),
    (lambda s, seen, k: right(s, seen, k + 1), "wrong K: it kept 4 items per user, expected k=3"),
    (lambda s, seen, k: right(s, seen, k - 1), "wrong K: it kept 2 items per user, expected k=3"),
    (highest_id_first, "a tie at the K-th place was lost"),
    (reorder_within_ties, "ties are reordered"),
    (with_seen, "it labelled training (seen) items"),
    (probabilities, "store the teacher's own scores"),
    (lambda s, seen, k: right(s, seen, k)[0], "return a tuple (items, scores)"),
])
def test_each_mistake_is_named(answer, message):
    assert_names(fails_with(check_compact_labels, answer), message)


def test_an_id_type_too_small_for_the_catalogue_is_named():
    def int16_always(scores, seen, k):
        items, values = right(scores, seen, k)
        return items.long().to(torch.int16), values
    text = fails_with(check_compact_labels, int16_always)
    assert "Case 'ties at the K-th place" in text and "2× the bytes needed" in text  # uint8 suffices for 8 items

    def int16_unless_tiny(scores, seen, k):
        items, values = right(scores, seen, k)
        return (items if scores.shape[1] <= 256 else items.long().to(torch.int16)), values
    assert_names(fails_with(check_compact_labels, int16_unless_tiny),
                 "holds ids only up to 32,767, but this catalogue has 40,000 items")


def test_torch_topk_is_caught_when_it_breaks_ties_differently():
    try:
        check_compact_labels(unstable)
    except AssertionError as error:
        assert "tie" in str(error), str(error)


def test_the_exercise_stub_raises():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_compact_labels(stub)
