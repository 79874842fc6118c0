"""Tests of :mod:`tinyrec.exercises`, one module per exercise module, and the helpers they share."""

import pytest


def fails_with(check, *args):
    """The message of the AssertionError that ``check(*args)`` raises."""
    with pytest.raises(AssertionError) as error:
        check(*args)
    return str(error.value)


def assert_names(text, message):
    """``text`` is a check's message for a case, with ``message`` in it and a hint."""
    assert text.startswith("Case '") and message in text and "\nHint: " in text, text


def stub(*args, **kwargs):
    """The exercise's stub: every check must let it raise."""
    raise NotImplementedError("Exercise: write your solution here")
