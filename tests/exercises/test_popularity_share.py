"""tinyrec.exercises.popularity_share: check_popularity_share (Exercise 4.1) passes a correct answer and
names each known mistake of the head share and the coverage of top-k lists."""

import pytest
import torch

from tinyrec.exercises import popularity_share as exercise
from tinyrec.exercises.popularity_share import check_popularity_share

from . import assert_names, fails_with, stub


def list_bias(scores, head, k, exclude):
    top = scores.masked_fill(exclude, float("-inf")).topk(k, dim=1).indices
    shown = torch.zeros(scores.shape[1], dtype=torch.bool)
    shown[top.flatten()] = True
    return head[top].float().mean().item(), shown.float().mean().item()


def test_check_passes_a_correct_answer(capsys):
    check_popularity_share(list_bias)
    out = capsys.readouterr().out
    assert "Correct! list_bias agrees with tinyrec.popularity" in out and "20% seen" in out


@pytest.mark.parametrize("index", range(len(exercise.SHARE_MISTAKES)))
def test_each_head_share_mistake_is_named(index):
    mistake, diagnosis = exercise.SHARE_MISTAKES[index]

    def wrong(scores, head, k, exclude):
        return mistake(scores, head, k, exclude), list_bias(scores, head, k, exclude)[1]
    assert_names(fails_with(check_popularity_share, wrong), diagnosis)


@pytest.mark.parametrize("index", range(len(exercise.COVERAGE_MISTAKES)))
def test_each_coverage_mistake_is_named(index):
    mistake, diagnosis = exercise.COVERAGE_MISTAKES[index]

    def wrong(scores, head, k, exclude):
        return list_bias(scores, head, k, exclude)[0], mistake(scores, k, exclude)
    assert_names(fails_with(check_popularity_share, wrong), diagnosis)


def test_a_tensor_or_a_single_number_is_rejected():
    assert_names(fails_with(check_popularity_share, lambda s, h, k, e: torch.tensor(list_bias(s, h, k, e))),
                 "return a tuple of two floats")
    assert_names(fails_with(check_popularity_share, lambda s, h, k, e: list_bias(s, h, k, e)[0]),
                 "return a tuple of two floats")


def test_an_unknown_error_says_what_was_expected():
    assert_names(fails_with(check_popularity_share, lambda s, h, k, e: (0.123, list_bias(s, h, k, e)[1])),
                 "head_share: expected")


def test_the_stub_raises_unchanged():
    with pytest.raises(NotImplementedError):
        check_popularity_share(stub)
