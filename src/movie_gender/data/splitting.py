"""Splitting the corpus into train / validation / test and balancing train: :func:`prepare_dataset`.

Protocol, in this order: drop empty lines (counted) -> split (by movie, stratified random, or the tutorial's
first-10,000-per-gender) -> optionally drop lines whose normalised text also occurs in a higher-priority split
(test > validation > train) -> balance train only, by resampling row indices (imbalanced-learn) and
``Dataset.select``. Validation and test keep their natural class ratio and hold each line once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from imblearn.over_sampling import RandomOverSampler
from imblearn.under_sampling import RandomUnderSampler

from movie_gender.configuration import BALANCE_MODES, SPLIT_MODES, DataOptions
from movie_gender.data.corpus import LABEL_NAMES, CorpusStats, content_fingerprint, corpus_dataset, read_corpus_table

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


@dataclass
class DatasetReport:
    """How a DatasetDict was built: the protocol, what was dropped, and the resulting sizes."""

    split: str
    balance: str
    seed: int
    validation_size: float
    test_size: float
    test_per_class: int | None
    drop_overlap: bool
    corpus: dict = field(default_factory=dict)
    empty_lines_dropped: int = 0
    overlap_dropped: dict = field(default_factory=dict)
    train_before_balance: dict = field(default_factory=dict)
    class_counts: dict = field(default_factory=dict)
    movies: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field."""
        return asdict(self)


def normalise_text(texts: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Lower-case, collapse whitespace and strip: the key under which two lines count as the same."""
    lowered = pc.utf8_lower(texts)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(lowered, r"\s+", " "))


def _split_by_movie(
    idx: np.ndarray, movies: np.ndarray, rng: np.random.Generator, val: float, test: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    names, inverse, counts = np.unique(movies[idx], return_inverse=True, return_counts=True)
    if len(names) < 3:
        raise ValueError(f"split='movie' needs at least 3 movies, the corpus has {len(names)}")
    order = rng.permutation(len(names))
    starts = np.cumsum(counts[order]) - counts[order]
    n = len(idx)
    split_of_movie = np.full(len(names), 0)
    split_of_movie[order[starts < round(test * n)]] = 2
    split_of_movie[order[(starts >= round(test * n)) & (starts < round((test + val) * n))]] = 1
    # Never leave validation or test without a movie.
    for split_id, position in ((2, 0), (1, 1)):
        if not (split_of_movie == split_id).any():
            split_of_movie[order[position]] = split_id
    assigned = split_of_movie[inverse]
    return idx[assigned == 0], idx[assigned == 1], idx[assigned == 2]


def _split_with_test_movies(
    idx: np.ndarray, movies: np.ndarray, in_test: np.ndarray, rng: np.random.Generator, val: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-validation folds: the lines of the movies marked ``in_test`` are test; whole movies holding about
    ``val`` of all lines are drawn from the others as validation; the rest is train."""
    test_idx = idx[in_test[movies[idx]]]
    rest = idx[~in_test[movies[idx]]]
    names, inverse, counts = np.unique(movies[rest], return_inverse=True, return_counts=True)
    if len(names) < 2:
        raise ValueError("a cross-validation fold needs at least 2 movies outside its test movies")
    order = rng.permutation(len(names))
    starts = np.cumsum(counts[order]) - counts[order]
    held = np.zeros(len(names), dtype=bool)
    held[order[starts < round(val * len(idx))]] = True
    held[order[0]] = True  # never an empty validation split
    return rest[~held[inverse]], rest[held[inverse]], test_idx


def _stratified_holdout(
    idx: np.ndarray, labels: np.ndarray, size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held out): ``round(size * n)`` lines of each class, drawn at random, held out; both sorted."""
    held = []
    for label in np.unique(labels[idx]):
        of_class = idx[labels[idx] == label]
        held.append(rng.choice(of_class, size=int(round(size * len(of_class))), replace=False))
    held_out = np.sort(np.concatenate(held))
    return idx[~_member(idx, held_out)], held_out


def _member(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``np.isin(idx, rows)`` for row numbers (>= 0), by a lookup table instead of a sort."""
    table = np.zeros(max(idx.max(initial=-1), rows.max(initial=-1)) + 1, dtype=bool)
    table[rows] = True
    return table[idx]


def _split_random(
    idx: np.ndarray, labels: np.ndarray, rng: np.random.Generator, val: float, test: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rest, test_idx = _stratified_holdout(idx, labels, test, rng)
    train_idx, val_idx = _stratified_holdout(rest, labels, val / (1 - test), rng)
    return train_idx, val_idx, test_idx


def _split_tutorial(
    idx: np.ndarray, labels: np.ndarray, rng: np.random.Generator, val: float, per_class: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    test_parts = []
    for label, name in enumerate(LABEL_NAMES):
        of_class = idx[labels[idx] == label]
        if len(of_class) <= per_class:
            raise ValueError(
                f"split='tutorial' holds out the first {per_class:,} lines of each gender, but this corpus has only "
                f"{len(of_class):,} {name} lines; use split='movie' or 'random', or a smaller test_per_class"
            )
        test_parts.append(of_class[:per_class])
    test_idx = np.sort(np.concatenate(test_parts))
    rest = idx[~_member(idx, test_idx)]
    train_idx, val_idx = _stratified_holdout(rest, labels, val, rng)
    return train_idx, val_idx, test_idx


def _drop_overlap(parts: list[np.ndarray], keys: np.ndarray) -> tuple[list[np.ndarray], dict]:
    """Keep a normalised text only in the highest-priority split it occurs in (test > validation > train)."""
    train_idx, val_idx, test_idx = parts
    seen = keys[test_idx]
    new_val = val_idx[~np.isin(keys[val_idx], seen)]
    seen = np.concatenate([seen, keys[new_val]])
    new_train = train_idx[~np.isin(keys[train_idx], seen)]
    dropped = {"train": len(train_idx) - len(new_train), "validation": len(val_idx) - len(new_val), "test": 0}
    return [new_train, new_val, test_idx], dropped


def _balance(train_idx: np.ndarray, labels: np.ndarray, mode: str, seed: int, rng: np.random.Generator) -> np.ndarray:
    if mode == "none":
        return train_idx
    sampler = RandomOverSampler if mode == "oversample" else RandomUnderSampler
    resampled, _ = sampler(random_state=seed).fit_resample(train_idx.reshape(-1, 1), labels[train_idx])
    return rng.permutation(resampled.ravel())


def _select(corpus: datasets.Dataset, rows: np.ndarray, name: str, base_fingerprint: str) -> datasets.Dataset:
    """``corpus.select(rows)``, fingerprinted by an xxhash of the corpus content, the split name and the rows (what
    ``select`` would otherwise get by pickling the rows). A list of Python ints selects twice as fast as the array, and
    the indices mapping written as one record batch (not ``select``'s default batches of 1,000 rows) saves ~15% more."""
    fingerprint = xxhash.xxh64(f"{base_fingerprint}:{name}:".encode() + rows.astype(np.int64).tobytes()).hexdigest()
    return corpus.select(rows.tolist(), new_fingerprint=fingerprint, writer_batch_size=max(1, len(rows)))


def _counts(labels: np.ndarray) -> dict[str, int]:
    return {name: int((labels == i).sum()) for i, name in enumerate(LABEL_NAMES)}


@dataclass
class _Corpus:
    """The corpus to split: its Dataset and Arrow table, what reading it counted, the fingerprint of its content,
    and the columns the protocol reads (labels, a number per movie, which lines are not empty)."""

    dataset: datasets.Dataset
    table: pa.Table
    stats: CorpusStats
    fingerprint: str
    labels: np.ndarray
    movie_codes: pa.DictionaryArray
    movies: np.ndarray
    nonempty: np.ndarray


def _check_options(options: DataOptions) -> None:
    """Raise ``ValueError`` for an unknown split or balance mode, or split sizes that do not fit."""
    split, validation_size, test_size = options.split, options.validation_size, options.test_size
    if split not in SPLIT_MODES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_MODES)}")
    if options.balance not in BALANCE_MODES:
        raise ValueError(f"unknown balance {options.balance!r}; choose one of {', '.join(BALANCE_MODES)}")
    if not (0 < validation_size < 1 and (split == "tutorial" or 0 < test_size < 1 and validation_size + test_size < 1)):
        raise ValueError("validation_size and test_size must be in (0, 1) and sum to less than 1")


def _load_corpus(corpus: str | os.PathLike | datasets.Dataset, options: DataOptions) -> _Corpus:
    """Read ``corpus`` as ``options`` say (or take the Dataset given) and the columns the protocol needs."""
    if isinstance(corpus, datasets.Dataset):
        dataset, stats = corpus, CorpusStats(source="<Dataset>", male=0, female=0)
        # The rows as they are: a shuffled or selected Dataset is a mapping over a larger table, which this resolves.
        table = corpus.with_format("arrow")[:]
        fingerprint = content_fingerprint(table)
    else:
        table, stats = read_corpus_table(options.reading(corpus))
        # Fingerprinted as laid out in batches, as a Dataset of it gives it back: the same fingerprint as when this
        # corpus is passed in as a Dataset (load_cornell).
        fingerprint = content_fingerprint(pa.Table.from_batches(table.to_batches(), schema=table.schema))
        dataset = corpus_dataset(table, fingerprint)
    # 0 / 1 as int8: np.unique and imbalanced-learn's checks of the labels run ~4x faster than on int64 (the same draws)
    labels = np.asarray(table.column("label").to_numpy(), dtype=np.int8)
    movie_codes = pc.dictionary_encode(table.column("movie_id")).combine_chunks()
    movies = np.asarray(movie_codes.indices.to_numpy(), dtype=np.int64)
    text = table.column("text")
    blank = pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))
    nonempty = ~np.asarray(blank.to_numpy(zero_copy_only=False), dtype=bool)
    return _Corpus(dataset, table, stats, fingerprint, labels, movie_codes, movies, nonempty)


def _draw_splits(
    lines: _Corpus, options: DataOptions, rng: np.random.Generator, test_movies: list[str] | None
) -> list[np.ndarray]:
    """The rows of train, validation and test, drawn from the non-empty lines as ``options.split`` says."""
    idx = np.flatnonzero(lines.nonempty)
    split, val = options.split, options.validation_size
    if test_movies is not None:
        if split != "movie":
            raise ValueError(f"test_movies needs split='movie', not {split!r}")
        in_test = np.isin(np.asarray(lines.movie_codes.dictionary.to_pylist(), dtype=object), list(test_movies))
        return list(_split_with_test_movies(idx, lines.movies, in_test, rng, val))
    if split == "movie":
        return list(_split_by_movie(idx, lines.movies, rng, val, options.test_size))
    if split == "random":
        return list(_split_random(idx, lines.labels, rng, val, options.test_size))
    return list(_split_tutorial(idx, lines.labels, rng, val, options.test_per_class))


def _check_classes(parts: list[np.ndarray], labels: np.ndarray) -> None:
    """Raise ``ValueError`` when a split lacks one of the classes."""
    for name, part in zip(SPLITS, parts, strict=False):
        present = np.bincount(labels[part], minlength=len(LABEL_NAMES)) > 0
        if not present.all():
            raise ValueError(
                f"the {name} split holds no "
                f"{' or '.join(n for n, p in zip(LABEL_NAMES, present, strict=False) if not p)} "
                "lines; the corpus is too small for these split sizes"
            )


def _new_report(options: DataOptions, lines: _Corpus) -> DatasetReport:
    """The report of a split as ``options`` say, before any line is drawn."""
    report = DatasetReport(
        options.split,
        options.balance,
        options.seed,
        options.validation_size,
        options.test_size,
        options.test_per_class if options.split == "tutorial" else None,
        options.drop_overlap,
        corpus=lines.stats.to_dict(),
        empty_lines_dropped=int((~lines.nonempty).sum()),
    )
    if report.empty_lines_dropped:
        logger.info("Dropped %d empty lines", report.empty_lines_dropped)
    return report


def _count(report: DatasetReport, parts: list[np.ndarray], lines: _Corpus) -> None:
    """Put the class and movie counts of each split into ``report``, and log them."""
    report.class_counts = {name: _counts(lines.labels[part]) for name, part in zip(SPLITS, parts, strict=False)}
    report.movies = {
        name: int(np.count_nonzero(np.bincount(lines.movies[part]))) for name, part in zip(SPLITS, parts, strict=False)
    }
    logger.info(
        "Split %r, balance %r: %s",
        report.split,
        report.balance,
        ", ".join(
            f"{n} {sum(c.values()):,} ({c['male']:,} male / {c['female']:,} female)"
            for n, c in report.class_counts.items()
        ),
    )


def prepare_dataset(
    corpus: str | os.PathLike | datasets.Dataset | None = None,
    options: DataOptions | None = None,
    *,
    test_movies: list[str] | None = None,
) -> tuple[datasets.DatasetDict, DatasetReport]:
    """Like :func:`movie_gender.build_dataset`, with the options as one object, and also returns the
    :class:`DatasetReport` that the dataset card is made of.

    Args:
        corpus: what to read (with the reading settings of ``options``: sha256, skip_bad_lines, encoding,
            context_size), or an already loaded corpus Dataset; default: ``options.corpus`` (``options.dataset`` is
            not read here).
        options: the split protocol (default: ``DataOptions()``).
        test_movies: with ``split="movie"`` (used by cross-validation), the movies whose lines are test instead of
            drawing them; validation is then drawn from the other movies and ``test_size`` is unused.
    """
    options = DataOptions() if options is None else options
    _check_options(options)
    lines = _load_corpus(options.corpus if corpus is None else corpus, options)
    report = _new_report(options, lines)
    rng = np.random.default_rng(options.seed)
    parts = _draw_splits(lines, options, rng, test_movies)
    if options.drop_overlap:
        text = normalise_text(lines.table.column("text"))
        codes = np.asarray(pc.dictionary_encode(text).combine_chunks().indices.to_numpy())
        parts, report.overlap_dropped = _drop_overlap(parts, codes)
        logger.info("Dropped lines whose text also occurs in a higher-priority split: %s", report.overlap_dropped)
    _check_classes(parts, lines.labels)
    report.train_before_balance = _counts(lines.labels[parts[0]])
    parts[0] = _balance(parts[0], lines.labels, options.balance, options.seed, rng)
    _count(report, parts, lines)
    dataset = datasets.DatasetDict(
        {name: _select(lines.dataset, part, name, lines.fingerprint) for name, part in zip(SPLITS, parts, strict=False)}
    )
    return dataset, report
