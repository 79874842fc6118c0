"""tinyrec.exercises.qr_embedding: check_qr_embedding (Exercise 2.4) passes a correct module and names each
known mistake."""

import pytest
import torch
from torch import nn

from tinyrec.exercises.qr_embedding import check_qr_embedding

from . import assert_names, fails_with, stub


class QR(nn.Module):
    """The QR embedding with the given mistakes (the defaults make none)."""

    def __init__(self, num_embeddings, dim, buckets, rows=lambda n, m: -(-n // m), lookup=None,
                 valid=lambda n, m: 1 <= m <= n, extra=False):
        super().__init__()
        if not valid(num_embeddings, buckets):
            raise ValueError("buckets must be between 1 and num_embeddings")
        self.buckets = buckets
        self.quotient = nn.Embedding(rows(num_embeddings, buckets), dim)
        self.remainder = nn.Embedding(buckets, dim)
        self.lookup = lookup
        if extra:
            self.full = nn.Embedding(num_embeddings, dim)

    def forward(self, indices):
        q, r, m = self.quotient, self.remainder, self.buckets
        return self.lookup(q, r, indices, m) if self.lookup else q(indices // m) * r(indices % m)


def qr(**mistakes):
    def build(num_embeddings, dim, buckets):
        return QR(num_embeddings, dim, buckets, **mistakes)
    return build


def test_check_qr_embedding_passes_a_correct_answer(capsys):
    check_qr_embedding(QR)
    assert "Correct! QR agrees with quotient[i // m] * remainder[i % m]" in capsys.readouterr().out


@pytest.mark.parametrize("build, message", [
    (qr(lookup=lambda q, r, i, m: q(i % m) * r(i % m)), "Both tables were indexed by i % m"),
    (qr(lookup=lambda q, r, i, m: q(i // m) * r(i // m)), "Both tables were indexed by i // m"),
    (qr(lookup=lambda q, r, i, m: q(i % m) * r(i // m)), "The tables were swapped"),
    (qr(lookup=lambda q, r, i, m: q(i // m) + r(i % m)), "Addition is a valid operation in Shi et al.'s paper"),
    (qr(lookup=lambda q, r, i, m: r(i % m)), "that is the hashing trick"),
    (qr(lookup=lambda q, r, i, m: q(i // m)), "Only the quotient table was used"),
    (qr(lookup=lambda q, r, i, m: torch.cat([q(i // m), r(i % m)], -1)), "twice the width: concatenated rows?"),
    (qr(lookup=lambda q, r, i, m: (q(i // m) * r(i % m)).reshape(-1, q.weight.shape[1])),
     "for indices of shape [2, 3] it returned shape [6, 4]"),
    (qr(lookup=lambda q, r, i, m: q(i // m).detach() * r(i % m)), "the gradient that reaches the quotient table"),
    (qr(lookup=lambda q, r, i, m: (q(i // m) * r(i % m)).detach()), "does not depend on the tables through autograd"),
    (qr(rows=lambda n, m: n // m), "the quotient table has floor(10 / 3) = 3 rows"),
    (qr(rows=lambda n, m: n // m + 1), "the tables have {'quotient': 4, 'remainder': 3} rows"),
    (qr(extra=True), "the module must hold the two tables and nothing else"),
    (qr(valid=lambda n, m: m >= 1), "it did not raise ValueError: buckets must be between 1 and"),
    (qr(valid=lambda n, m: True), "it raised ZeroDivisionError"),
])
def test_check_qr_embedding_names_the_mistake(build, message):
    assert_names(fails_with(check_qr_embedding, build), message)


def test_check_qr_embedding_explains_an_index_error():
    text = fails_with(check_qr_embedding, qr(lookup=lambda q, r, i, m: q(i // m) * r(i % (m + 1))))
    assert_names(text, "it raised IndexError")
    assert "i % m over 0..2 (the remainder table's rows)" in text


class Stub(nn.Module):
    def __init__(self, num_embeddings, dim, buckets):
        super().__init__()
        stub()


def test_check_qr_embedding_lets_the_exercise_stub_raise():
    with pytest.raises(NotImplementedError, match="Exercise"):
        check_qr_embedding(Stub)
