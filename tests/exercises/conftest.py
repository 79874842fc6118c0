"""Fixtures the exercise tests share: the book's split and its EASE teacher, under the names the checks use."""

import pytest

from tinyrec import recipes


@pytest.fixture(scope="session")
def split(movielens_split):
    """The book's split of MovieLens-100k (seed 0)."""
    return movielens_split


@pytest.fixture(scope="session")
def teacher(split):
    """The EASE teacher (cached), which Exercises 1.1 and 1.4 hand to their checks."""
    return recipes.trained_ease(split)
