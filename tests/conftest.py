"""Fixtures shared by the unit tests: data (synthetic and real) and an isolated model cache."""

import pytest

from tinyrec import data


@pytest.fixture(scope="session")
def synthetic_split():
    """A per-user split of small synthetic data with planted groups (300 users, 120 items, seed 0)."""
    df, _, _ = data.synthetic_interactions(n_users=300, n_items=120, seed=0)
    return data.split_per_user(df, seed=0)


@pytest.fixture(scope="session")
def ratings():
    """The 100,000 MovieLens-100k ratings."""
    return data.load_movielens_100k()


@pytest.fixture(scope="session")
def movielens_split(ratings):
    """The book's split of MovieLens-100k with seed 0."""
    return data.split_per_user(ratings, seed=0)


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    """An empty ``TINYREC_CACHE`` for one test (for synthetic data: MovieLens lives in the real cache)."""
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    return tmp_path
