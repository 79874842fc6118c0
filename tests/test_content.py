"""tinyrec.content: the item sentences, the split's item order, the on-disk cache, the real encoder."""

import numpy as np
import pandas as pd
import pytest
import torch

from tinyrec import content, data


def small_items():
    return pd.DataFrame({"item_id": [3, 1, 2], "title": ["Gamma", "Alpha", "Beta"], "year": ["1990", "1995", "1977"],
                         "genres": ["Drama", "Animation Children's Comedy", ""]})


def fake_encode(calls):
    def encode(texts, batch_size=64):
        calls.append(list(texts))
        return torch.tensor([[float(len(t)), float(i)] + [0.0] * (content.DIM - 2) for i, t in enumerate(texts)])
    encode.__module__ = content.__name__  # the cache fingerprints tinyrec code only
    return encode


def test_item_text_lists_genres_with_commas():
    assert content.item_text("Toy Story", "1995", "Animation Children's Comedy") == \
        "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert content.item_text("X", "1990", "") == "X (1990). Genres: unknown"


def test_item_texts_are_in_item_id_order():
    ids, texts = content.item_texts(small_items())
    assert ids.tolist() == [1, 2, 3]
    assert texts[0].startswith("Alpha (1995)") and texts[2].startswith("Gamma (1990)")


def test_embeddings_follow_the_split_order_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(content, "encode", fake_encode(calls))
    split = data.Split(*(pd.DataFrame(),) * 3, user_ids=np.array([1]), item_ids=np.array([2, 3]), seed=0,
                       fingerprint="x")
    first = content.item_embeddings(split, small_items())
    assert first.shape == (2, content.DIM) and first.dtype == torch.float32
    assert first[:, 1].tolist() == [1.0, 2.0]  # rows of items 2 and 3 of the id-ordered table
    again = content.item_embeddings(split, small_items())
    assert len(calls) == 1 and torch.equal(first, again)  # the second call read the cache
    changed = small_items().assign(title=["Gamma", "Alpha", "Beta 2"])
    content.item_embeddings(split, changed)
    assert len(calls) == 2  # another text, another key


def test_an_item_without_a_title_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    monkeypatch.setattr(content, "encode", fake_encode([]))
    split = data.Split(*(pd.DataFrame(),) * 3, user_ids=np.array([1]), item_ids=np.array([2, 7]), seed=0,
                       fingerprint="x")
    with pytest.raises(ValueError, match="item_id \\[7\\]"):
        content.item_embeddings(split, small_items())


def test_encode_rejects_empty_input():
    with pytest.raises(ValueError, match="non-empty"):
        content.encode([])


def test_real_embeddings_of_movielens(movielens_split):
    """The real encoder (about 15 s the first time; the default cache makes later runs instant)."""
    split = movielens_split
    vectors = content.item_embeddings(split)
    assert vectors.shape == (1682, content.DIM)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(1682), atol=1e-4)
    titles = data.load_movielens_items().set_index("item_id")["title"]
    row = {title: i for i, title in zip(range(1682), titles.loc[split.item_ids])}
    star_wars, jedi, empire = row["Star Wars"], row["Return of the Jedi"], row["Empire Strikes Back, The"]
    similarity = vectors @ vectors[star_wars]
    assert similarity[jedi] > np.quantile(similarity.numpy(), 0.99)
    assert similarity[empire] > np.quantile(similarity.numpy(), 0.95)


def synthetic_split():
    return data.split_per_user(data.synthetic_interactions(n_users=120, n_items=80, per_user=20, seed=0)[0], seed=0)


def test_cold_split_removes_the_new_items_from_training_and_test_cold_from_validation():
    split = synthetic_split()
    reduced, valid_cold, test_cold = content.cold_split(split, n_cold=10, min_train=1)
    assert int(valid_cold.sum()) == int(test_cold.sum()) == 5 and not (valid_cold & test_cold).any()
    assert not reduced.mask("train")[:, valid_cold | test_cold].any()
    assert not reduced.mask("valid")[:, test_cold].any()
    assert reduced.mask("valid").any(dim=1).all()  # every user can still be validated
    assert len(reduced.valid) + len(reduced.test) == len(split.valid) + len(split.test)
    with pytest.raises(ValueError, match="n_cold must be even"):
        content.cold_split(split, n_cold=3)


def test_text_columns_predict_a_cold_column_from_its_text():
    torch.manual_seed(0)
    embeddings = torch.randn(30, 8)
    a = torch.randn(30, 8)
    weight = (a @ embeddings.T).float()
    warm = torch.ones(30, dtype=torch.bool)
    warm[:3] = False
    weight[:, :3] = 0.0  # cold columns: never trained
    predicted = content.text_columns(weight, embeddings, warm, ridge=1e-6)
    assert torch.allclose(predicted[:, :3], (a @ embeddings[:3].T), atol=1e-3)
    with pytest.raises(ValueError, match="ridge"):
        content.text_columns(weight, embeddings, warm, ridge=0)


def test_on_items_is_nan_without_relevant_items_and_can_rank_the_candidates_only():
    split = synthetic_split()
    scores = torch.randn(split.n_users, split.n_items)
    items = torch.zeros(split.n_items, dtype=torch.bool)
    items[:5] = True
    full = content.on_items(scores, split, items)
    only = content.on_items(scores, split, items, candidates_only=True)
    has = (split.mask("test") & items).any(dim=1)
    assert full["recall@10"][~has].isnan().all() and not full["recall@10"][has].isnan().any()
    assert torch.allclose(only["recall@10"][has], torch.ones(int(has.sum())))  # 5 candidates fit in a top-10
    assert (full["recall@10"][has] <= only["recall@10"][has]).all()
