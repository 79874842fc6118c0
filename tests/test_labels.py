"""tinyrec.labels: the smallest id type, deterministic top-K labels without seen items, and a top-K listwise
loss that is the dense listwise KD loss when K covers every unseen item."""

import pytest
import torch

from tinyrec import distill, labels, models


@pytest.mark.parametrize("n_items, dtype", [(1, torch.uint8), (256, torch.uint8), (257, torch.int16),
                                            (1682, torch.int16), (32_768, torch.int16), (32_769, torch.int32),
                                            (2**31, torch.int32), (2**31 + 1, torch.int64)])
def test_id_dtype_is_the_smallest_that_holds_every_id(n_items, dtype):
    assert labels.id_dtype(n_items) == dtype


def test_id_dtype_rejects_an_empty_catalogue():
    with pytest.raises(ValueError, match="n_items must be a positive integer, got 0"):
        labels.id_dtype(0)


def test_top_k_labels_order_ties_by_item_and_skip_seen_items():
    scores = torch.tensor([[0.5, 0.9, 0.5, 0.9, 0.1], [1.0, 0.2, 0.3, 0.3, 0.3]])
    seen = torch.tensor([[False, False, False, False, False], [True, False, False, False, False]])
    top = labels.top_k_labels(scores, 3, exclude=seen)
    assert top.items.dtype == torch.uint8 and top.scores.dtype == torch.float16
    assert top.items.tolist() == [[1, 3, 0], [2, 3, 4]]
    assert top.scores.flatten().tolist() == pytest.approx([0.9, 0.9, 0.5, 0.3, 0.3, 0.3], abs=1e-3)
    assert top.nbytes == 2 * 3 * (1 + 2) and top.k == 3


def test_top_k_labels_rejects_k_beyond_the_unseen_items():
    seen = torch.tensor([[True, True, False]])
    with pytest.raises(ValueError, match="k=2, but some user has only 1 items"):
        labels.top_k_labels(torch.rand(1, 3), 2, exclude=seen)
    with pytest.raises(ValueError, match="k=4 is larger than the catalogue"):
        labels.top_k_labels(torch.rand(1, 3), 4)
    with pytest.raises(ValueError, match="NaN"):
        labels.top_k_labels(torch.tensor([[float("nan"), 0.0]]), 1)


def test_label_teacher_in_chunks_equals_one_call(synthetic_split):
    teacher = models.EASE(synthetic_split.n_items, 50.0).fit(synthetic_split.matrix("train"))
    seen = synthetic_split.mask("train")
    chunked = labels.label_teacher(teacher, seen, 10, chunk=7)
    whole = labels.top_k_labels(teacher(torch.arange(len(seen)), seen.float()), 10, exclude=seen)
    assert torch.equal(chunked.items, whole.items) and torch.equal(chunked.scores, whole.scores)
    tail = labels.label_teacher(teacher, seen, 10, users=torch.arange(100, 300), chunk=7)
    assert torch.equal(tail.items, whole.items[100:])
    assert not seen.gather(1, chunked.items.long()).any()


def test_topk_loss_is_the_dense_listwise_loss_when_k_covers_every_unseen_item():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 9, generator=generator), torch.randn(4, 9, generator=generator)
    seen = torch.zeros(4, 9, dtype=torch.bool)
    seen[:, 0] = True
    top = labels.top_k_labels(teacher, 8, exclude=seen)
    rounded = teacher.half().float()  # the labels keep fp16 scores
    dense = distill.listwise_kd_loss(student, rounded, 0.5, exclude=seen)
    sparse = labels.topk_listwise_loss(student, top.items, top.scores, 0.5, exclude=seen)
    torch.testing.assert_close(sparse, dense)


def test_topk_loss_truncates_the_target_and_has_a_gradient():
    student = torch.zeros(1, 4, requires_grad=True)
    items, scores = torch.tensor([[2, 0]], dtype=torch.int16), torch.tensor([[1.0, 1.0]], dtype=torch.float16)
    loss = labels.topk_listwise_loss(student, items, scores, 1.0)
    # target 1/2 on items 2 and 0; student uniform 1/4: KL = log 2
    assert loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    loss.backward()
    assert student.grad[0, 1] > 0 and student.grad[0, 2] < 0
    with pytest.raises(ValueError, match="temperature"):
        labels.topk_listwise_loss(student, items, scores, 0.0)
    with pytest.raises(ValueError, match="items and scores"):
        labels.topk_listwise_loss(student, items, scores[:, :1], 1.0)


def test_topk_objective_matches_the_dense_listwise_term_at_full_k(synthetic_split):
    teacher = models.EASE(synthetic_split.n_items, 50.0).fit(synthetic_split.matrix("train"))
    seen = synthetic_split.mask("train")
    scores = teacher(torch.arange(len(seen)), seen.float()).half().float()
    k = synthetic_split.n_items - int(seen.sum(dim=1).max())
    top = labels.top_k_labels(scores, k, exclude=seen)
    student = models.BPRMF(synthetic_split.n_users, synthetic_split.n_items, 8)
    users = torch.arange(50)
    sparse = labels.topk_objective(top, seen, 0.05, generator=torch.Generator().manual_seed(3))(student, users)
    dense = distill.student_objective("listwise", scores, seen, temperature=0.05,
                                      generator=torch.Generator().manual_seed(3))(student, users)
    assert sparse.item() <= dense.item() + 1e-6  # K below some users' unseen count: those targets are truncated
    with pytest.raises(ValueError, match="labels are for"):
        labels.topk_objective(top, seen[:10], 0.05)
