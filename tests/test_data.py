"""tinyrec.data: the real data, its verification, the split, and the synthetic generator."""

import re

import numpy as np
import pytest

from tinyrec import data


def test_movielens_has_the_published_shape(ratings):
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert len(ratings) == 100_000
    assert ratings.user_id.nunique() == 943 and ratings.item_id.nunique() == 1682
    assert set(ratings.rating.unique()) == {1, 2, 3, 4, 5}
    assert ratings.groupby("user_id").size().min() >= 20  # every ML-100k user rated at least 20 movies


def test_local_grouplens_folder_is_read(tmp_path, ratings, monkeypatch):
    ratings.sample(frac=1.0, random_state=0).to_csv(tmp_path / "u.data", sep="\t", header=False, index=False)
    monkeypatch.setenv("TINYREC_DATA", str(tmp_path))
    assert data.ratings_sha256(data.load_movielens_100k()) == data.RATINGS_SHA256


def test_truncated_local_copy_is_reported(tmp_path, ratings):
    ratings.iloc[:-1].to_csv(tmp_path / "u.data", sep="\t", header=False, index=False)
    with pytest.raises(data.DataError, match="99,999 rows"):
        data.load_movielens_100k(tmp_path)


def test_altered_local_copy_is_reported(tmp_path, ratings):
    altered = ratings.copy()
    altered.loc[0, "rating"] = 6 - altered.loc[0, "rating"] if altered.loc[0, "rating"] != 3 else 4
    altered.to_csv(tmp_path / "u.data", sep="\t", header=False, index=False)
    with pytest.raises(data.DataError, match="hash mismatch"):
        data.load_movielens_100k(tmp_path)


@pytest.mark.parametrize("line", ["this is not\ta rating", "196\t242\t3", "196\t242\t3.5\t881250949"])
def test_a_malformed_line_is_reported_with_its_file_and_number(tmp_path, ratings, line):
    rows = ratings.iloc[:5].astype(str).agg("\t".join, axis=1).tolist()
    (tmp_path / "u.data").write_text("\n".join(rows[:2] + [line] + rows[2:]) + "\n")
    problem = re.escape(f"u.data, line 3: {line!r} is not 4 whole numbers")
    with pytest.raises(data.DataError, match=f"{problem}.*replace it with the original"):
        data.load_movielens_100k(tmp_path)


def test_items_from_a_local_grouplens_folder_match_the_recbole_copy(tmp_path, monkeypatch):
    items = data.load_movielens_items()
    flags = [[int(genre in row.split(" ")) for genre in data.GENRES] for row in items["genres"]]
    lines = [f"{row.item_id}|{row.title} ({row.year})|01-Jan-{row.year}||http://imdb|" if row.year.isdigit()
             else f"{row.item_id}|{row.title}||||" for row in items.itertuples()]  # GroupLens: no date, no year
    lines = [line + "|".join(map(str, f)) for line, f in zip(lines, flags)]
    (tmp_path / "u.data").write_text("")
    (tmp_path / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    monkeypatch.setenv("TINYREC_DATA", str(tmp_path))
    local = data.load_movielens_items()
    assert local.columns.tolist() == items.columns.tolist() and len(local) == 1682
    assert local["genres"].tolist() == items["genres"].tolist()
    known = items["year"].str.isdigit()  # two items have no release date (recbole writes "unkonwn" or text)
    assert local[known].drop(columns="genres").equals(items[known].drop(columns="genres"))
    assert (local["year"][~known] == "").all()
    (tmp_path / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995\n")
    with pytest.raises(data.DataError, match="u.item has 3 columns, expected 24"):
        data.load_movielens_items()


def test_folder_without_u_data_says_what_to_do(tmp_path):
    with pytest.raises(data.DataError, match="TINYREC_DATA"):
        data.load_movielens_100k(tmp_path)


def test_corrupted_cached_file_is_reported_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    folder = tmp_path / "data" / "ml-100k"
    folder.mkdir(parents=True)
    for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
        (folder / name).write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(data.DataError, match="corrupted or truncated"):
        data.load_movielens_100k()


def test_missing_sources_name_both_options(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREC_CACHE", str(tmp_path))
    monkeypatch.delenv("TINYREC_DATA", raising=False)
    # A pip that cannot reach any index stands for a machine without network.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(data.DataError) as error:
        data.load_movielens_100k()
    assert "TINYREC_DATA" in str(error.value) and "recbole==1.2.1" in str(error.value)


def test_split_is_per_user_80_10_10_and_seeded(ratings):
    split = data.split_per_user(ratings, seed=0)
    assert split.n_users == 943 and split.n_items == 1682
    assert len(split.train) + len(split.valid) + len(split.test) == 100_000
    sizes = ratings.groupby("user_id").size().to_numpy()
    per_user = [split.part(p).groupby("user").size().reindex(range(943), fill_value=0).to_numpy()
                for p in ("train", "valid", "test")]
    np.testing.assert_array_equal(per_user[1], np.floor(0.1 * sizes))
    np.testing.assert_array_equal(per_user[2], np.floor(0.1 * sizes))
    pairs = [set(zip(split.part(p).user, split.part(p).item)) for p in ("train", "valid", "test")]
    assert not (pairs[0] & pairs[1]) and not (pairs[0] & pairs[2]) and not (pairs[1] & pairs[2])
    again = data.split_per_user(ratings, seed=0)
    assert again.fingerprint == split.fingerprint and again.test.equals(split.test)
    other = data.split_per_user(ratings, seed=1)
    assert other.fingerprint != split.fingerprint and not other.test.equals(split.test)


def test_split_seed_comes_from_environment(ratings, monkeypatch):
    monkeypatch.setenv("TINYREC_SEED", "3")
    assert data.split_per_user(ratings).seed == 3
    monkeypatch.setenv("TINYREC_SEED", "three")
    with pytest.raises(ValueError, match="TINYREC_SEED"):
        data.split_per_user(ratings)


def test_matrices_match_the_parts(ratings):
    split = data.split_per_user(ratings, seed=0)
    matrix, mask = split.matrix("train"), split.mask("train")
    assert matrix.shape == tuple(mask.shape) == (943, 1682)
    assert matrix.nnz == len(split.train) == int(mask.sum())
    with pytest.raises(ValueError, match="part must be"):
        split.matrix("validation")


def test_bad_ratios_are_rejected(ratings):
    with pytest.raises(ValueError, match="ratios"):
        data.split_per_user(ratings, seed=0, ratios=(0.8, 0.1))


def test_synthetic_data_has_its_planted_groups():
    df, user_group, item_group = data.synthetic_interactions(n_users=200, n_items=80, seed=1)
    assert df.groupby("user_id").size().eq(20).all()
    same = user_group[df.user_id - 1] == item_group[df.item_id - 1]
    assert same.mean() > 0.65  # ten times as likely as each of 3 other groups: 10/13 ≈ 0.77 expected
    with pytest.raises(ValueError, match="too small"):
        data.synthetic_interactions(n_items=10, per_user=20)
