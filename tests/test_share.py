"""tinyrec.share: the hashing trick and quotient-remainder embeddings, and BPR-MF models built on them."""

import math

import pytest
import torch

from tinyrec import share


def test_hash_embedding_shares_rows_of_ids_a_bucket_count_apart():
    table = share.HashEmbedding(100, 8, buckets=10)
    ids = torch.tensor([3, 13, 93, 4])
    out = table(ids)
    assert out.shape == (4, 8)
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])  # collisions: identical embeddings
    assert not torch.equal(out[0], out[3])
    assert sum(p.numel() for p in table.parameters()) == 10 * 8
    assert torch.equal(table.weight[93], table.table.weight[3])


@pytest.mark.parametrize("operation", ["mult", "add"])
def test_qr_embedding_composes_quotient_and_remainder_rows(operation):
    table = share.QREmbedding(100, 4, buckets=7, operation=operation)
    with torch.no_grad():
        table.remainder.weight.normal_()  # away from the neutral start, so the composition is visible
    q, r = table.quotient.weight, table.remainder.weight
    expected = q[93 // 7] * r[93 % 7] if operation == "mult" else q[93 // 7] + r[93 % 7]
    assert torch.allclose(table(torch.tensor([93]))[0], expected)
    assert table.quotient.num_embeddings == math.ceil(100 / 7) == 15
    assert sum(p.numel() for p in table.parameters()) == share.qr_rows(100, 7) * 4 == 22 * 4
    # complementary partitions: every id has its own (quotient, remainder) pair, so its own embedding
    assert len({tuple(row.tolist()) for row in table.weight}) == 100


def test_qr_embedding_starts_from_its_quotient_rows():
    table = share.QREmbedding(50, 4, buckets=5)
    assert torch.equal(table.weight, table.quotient.weight.repeat_interleave(5, dim=0)[:50])


def test_qr_buckets_fit_the_budget_and_reject_impossible_ones():
    for n, reduction in [(943, 4), (1682, 4), (1682, 8), (943, 8)]:
        m = share.qr_buckets_for(n, reduction)
        assert share.qr_rows(n, m) <= n / reduction < share.qr_rows(n, m - 1)
    with pytest.raises(ValueError, match="smallest has 62 rows"):
        share.qr_buckets_for(943, 16)  # at best ~2 sqrt(943) rows
    with pytest.raises(ValueError, match="reduction"):
        share.qr_buckets_for(943, 0.5)


@pytest.mark.parametrize("bad", [
    lambda: share.HashEmbedding(10, 4, buckets=0),
    lambda: share.HashEmbedding(10, 4, buckets=11),
    lambda: share.QREmbedding(10, 0, buckets=3),
    lambda: share.QREmbedding(10, 4, buckets=3, operation="concat"),
    lambda: share.HashEmbedding(10, 4, buckets=5)(torch.tensor([10])),
    lambda: share.HashEmbedding(10, 4, buckets=5)(torch.tensor([1.0])),
    lambda: share.shared_bprmf(10, 10, 4, kind="tt", reduction=2),
])
def test_bad_input_is_a_value_error(bad):
    with pytest.raises(ValueError):
        bad()


def test_frequency_embedding_gives_the_frequent_ids_their_own_rows():
    counts = torch.tensor([5, 1, 9, 0, 3, 3, 7, 2, 0, 1])
    table = share.FrequencyEmbedding(counts, dim=4, own=3, buckets=2)
    # ids 2, 6, 0 (9, 7 and 5 interactions) own rows 0-2; every other id shares row 3 + id mod 2
    assert table.row_of.tolist() == [2, 4, 0, 4, 3, 4, 1, 4, 3, 4]
    assert sum(p.numel() for p in table.parameters()) == (3 + 2) * 4
    weight = table.weight
    assert torch.equal(weight[3], weight[1]) and not torch.equal(weight[2], weight[6])
    everyone = share.FrequencyEmbedding(counts, dim=4, own=10, buckets=0)  # no sharing at all
    assert sorted(everyone.row_of.tolist()) == list(range(10))
    for own, buckets in ((8, 3), (5, 0)):
        with pytest.raises(ValueError, match="own"):
            share.FrequencyEmbedding(counts, dim=4, own=own, buckets=buckets)


def test_shared_bprmf_shares_the_tables_it_is_asked_to():
    counts = {"user": torch.arange(30), "item": torch.arange(40)}
    items_only = share.shared_bprmf(30, 40, 8, "frequency", 4, tables=("item",), counts=counts, own=0.5)
    assert isinstance(items_only.user, torch.nn.Embedding) and isinstance(items_only.item, share.FrequencyEmbedding)
    assert sum(p.numel() for p in items_only.parameters()) == (30 + 10) * 8
    assert items_only.item.own == 5 and items_only.item.buckets == 5
    both = share.shared_bprmf(30, 40, 8, "hash", 4)
    assert isinstance(both.user, share.HashEmbedding) and both.user.buckets == 7
    for bad in (dict(kind="frequency", reduction=4), dict(kind="bloom", reduction=4),
                dict(kind="hash", reduction=4, tables=("users",)), dict(kind="hash", reduction=4, own=2.0)):
        with pytest.raises(ValueError):
            share.shared_bprmf(30, 40, 8, **bad)
