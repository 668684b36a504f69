"""Score a speaker table of any size by character: one row per (group, speaker) of a table of lines with a speaker
column and a group column (a movie, an episode, a play), through the package's character path
(:func:`movie_gender.inference.predictor.predict_characters`).

The input need not be sorted, and need not fit in memory. The job runs in three steps, each bounded by a batch or a
partition, not by the input:

1. **Partition**: the rows are read batch by batch and written to ``P`` temporary Parquet files by a hash of the
   group (``P``: the rows over ``rows_per_part``), so each partition holds whole groups.
2. **Score**: each partition is read, sorted by group and speaker, and scored in chunks of whole groups; its
   characters (``group, speaker, n_lines, p_female, predicted_label``, sorted by group and speaker) are written
   atomically to a part file.
3. **Merge**: the part files, each sorted, are merged into the one output file (through a temporary file).

A speaker is a character of its group: the same speaker name in two groups is two characters. Conversations
(``conversation_column``) are conversations of a group; with them, a character model adds its partner term; with
an order column too, each line gets the context the corpus path gives it (the lines of other speakers around it in
its conversation: :func:`movie_gender.data.conversations.context_positions`). A killed job started again with the
same output reuses the partitions and parts on disk and writes the file an uninterrupted run writes.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path, remove_stale
from movie_gender.data.conversations import Conversations, context_lists, context_positions
from movie_gender.inference.prediction import context_size
from movie_gender.inference.predictor import predict_characters
from movie_gender.inference.sources import Source, open_source
from movie_gender.inference.streaming import check_parquet_output, job_folder, line_texts, model_fingerprint

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

logger = logging.getLogger(__name__)

ROW = "__row"  # the input row number of each line, kept in the partitions
SCORE_COLUMNS = ("n_lines", "p_female", "predicted_label")
_FLUSH_ROWS = 65_536  # rows held across all partitions' buffers before they are written
_DONE = "partitioned.json"


@dataclasses.dataclass
class SpeakerTableOptions:
    """The columns of a speaker table and how :func:`score_speaker_table` reads and scores it."""

    speaker_column: str
    group_column: str
    text_column: str = "text"
    conversation_column: str | None = None
    order_column: str | None = None
    batch_size: int = 512  # lines per forward pass
    rows_per_part: int = 65_536  # lines per partition on average: the unit of memory and of resuming
    split: str = "train"  # the split of a Hub dataset
    revision: str | None = None  # the revision of a Hub dataset
    progress: bool = True

    def columns(self) -> dict[str, str]:
        """{column: the option that names it} of the columns read besides the text."""
        named = {
            self.speaker_column: "--speaker-column",
            self.group_column: "--group-column",
            self.conversation_column: "--conversation-column",
            self.order_column: "--order-column",
        }
        return {column: option for column, option in named.items() if column}

    def check(self) -> None:
        """One-line errors for columns that cannot work together."""
        if self.speaker_column == self.group_column:
            raise ValueError(f"--speaker-column and --group-column are both {self.group_column!r}; give two columns")
        clash = [c for c in (self.speaker_column, self.group_column) if c in SCORE_COLUMNS]
        if clash:
            raise ValueError(f"column {clash[0]!r} is also a column of the output; rename it in the input")
        if self.order_column and not self.conversation_column:
            raise ValueError("--order-column orders the lines of each conversation: give --conversation-column too")


@dataclasses.dataclass
class SpeakerTableStats:
    """What a run did: input rows, rows skipped (no speaker or group), characters written, partitions
    scored now and reused."""

    rows: int = 0
    skipped: int = 0
    characters: int = 0
    partitions: int = 0
    parts_scored: int = 0
    parts_reused: int = 0
    seconds: float = 0.0


def output_schema(schema: pa.Schema, options: SpeakerTableOptions) -> pa.Schema:
    """The output's schema: the group and speaker columns as the input types them, then :data:`SCORE_COLUMNS`."""
    return pa.schema(
        [
            schema.field(options.group_column),
            schema.field(options.speaker_column),
            pa.field("n_lines", pa.int64()),
            pa.field("p_female", pa.float64()),
            pa.field("predicted_label", pa.string()),
        ]
    )


def reads_context(model: BiLSTMClassifier) -> bool:
    """Whether ``model`` reads the lines of other speakers around each line (a context or character model)."""
    return bool(context_size(model)) and model.config.uses_context


def explain_missing(model: BiLSTMClassifier, options: SpeakerTableOptions) -> None:
    """Say in one log line each what the model loses without conversations or their order."""
    if reads_context(model) and not options.order_column:
        logger.warning(
            "The model reads the lines of other speakers around each line (up to %d before and after); without "
            "--conversation-column and --order-column there is no such context, so each line is read without it",
            context_size(model),
        )
    if model.config.is_character_model and model.config.character_partner_weight and not options.conversation_column:
        logger.warning(
            "Without --conversation-column the character model's partner term (the scores of the characters each "
            "one talks to) is left out: every character gets the average term"
        )


# ------------------------------------------------------------------------------------------ scoring whole groups
def score_groups(model: BiLSTMClassifier, table: pa.Table, options: SpeakerTableOptions) -> pa.Table:
    """The characters of ``table`` (whole groups: every line of each group it holds), one row per (group,
    speaker) sorted by both (:func:`output_schema`), scored by
    :func:`~movie_gender.inference.predictor.predict_characters`. Rows without a group or speaker are left out."""
    g, s = options.group_column, options.speaker_column
    table = table.filter(pc.and_(pc.is_valid(table[g]), pc.is_valid(table[s])))
    order = [(g, "ascending"), (s, "ascending")] + ([(ROW, "ascending")] if ROW in table.column_names else [])
    table = table.take(pc.sort_indices(table, sort_keys=order))
    schema = output_schema(table.schema, options)
    if not table.num_rows:
        return schema.empty_table()
    new_group, new_character = _boundaries(table[g]), _boundaries(table[s])
    new_character |= new_group
    character = np.cumsum(new_character) - 1
    texts = line_texts(table[options.text_column])[0]
    conversations = _conversation_ids(table, options, np.cumsum(new_group) - 1)
    context = _context(model, table, texts, character, conversations, options)
    scored = predict_characters(
        model,
        texts,
        [str(c) for c in character],
        context=context,
        batch_size=options.batch_size,
        conversation_ids=conversations,
    )
    scored.sort(key=lambda row: int(row["character_id"]))  # the order of the codes: by group, then speaker
    first = pa.array(np.flatnonzero(new_character))
    columns = [
        table[g].take(first),
        table[s].take(first),
        pa.array([row["n_lines"] for row in scored], pa.int64()),
        pa.array([row["p_female"] for row in scored], pa.float64()),
        pa.array([row["label"] for row in scored], pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _boundaries(column: pa.ChunkedArray) -> np.ndarray:
    """True where a sorted column's value differs from the one before it (and at row 0)."""
    new = np.ones(len(column), dtype=bool)
    if len(column) > 1:
        same = pc.equal(column.slice(1), column.slice(0, len(column) - 1))
        new[1:] = ~np.asarray(pc.fill_null(same, False).to_numpy(zero_copy_only=False))
    return new


def _conversation_ids(table: pa.Table, options: SpeakerTableOptions, group: np.ndarray) -> list[str] | None:
    """Each line's conversation, as a conversation of its group (``GROUP#:CONVERSATION``); a line without one is a
    conversation of its own. None without a conversation column."""
    if not options.conversation_column:
        return None
    values = pc.cast(table[options.conversation_column], pa.string()).to_pylist()
    return [
        f"{k}:{value}" if value is not None else f"{k}:\x00{i}"
        for i, (k, value) in enumerate(zip(group.tolist(), values, strict=True))
    ]


def _context(
    model: BiLSTMClassifier,
    table: pa.Table,
    texts: list[str],
    speaker: np.ndarray,
    conversation_ids: list[str] | None,
    options: SpeakerTableOptions,
) -> list[list[str]] | None:
    """Each line's context as the corpus path builds it (up to the model's ``K`` lines of other speakers before
    and after it in its conversation, in the order of ``order_column``), for a model that reads context; None
    otherwise."""
    if not reads_context(model) or conversation_ids is None or not options.order_column:
        return None
    size = context_size(model)
    conversation = np.asarray(pc.dictionary_encode(pa.array(conversation_ids)).indices, dtype=np.int64)
    keys = pa.table({"c": conversation, "o": table[options.order_column], "r": np.arange(table.num_rows)})
    order = np.asarray(
        pc.sort_indices(keys, sort_keys=[("c", "ascending"), ("o", "ascending"), ("r", "ascending")]), np.int64
    )
    sorted_conversation = conversation[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_conversation[1:] != sorted_conversation[:-1]
    conversations = Conversations(order, np.cumsum(new) - 1, options.order_column)
    positions = context_positions(conversations, speaker, np.arange(table.num_rows), size)
    text = pa.array(texts, pa.string())
    pieces = context_lists(positions, lambda rows: text.take(pa.array(rows)))
    return pa.chunked_array(pieces).to_pylist()


def score_partition(model: BiLSTMClassifier, table: pa.Table, options: SpeakerTableOptions) -> pa.Table:
    """:func:`score_groups` over ``table`` cut into chunks of whole groups of about ``options.rows_per_part``
    lines (one group is never cut)."""
    g = options.group_column
    table = table.take(pc.sort_indices(table, sort_keys=[(g, "ascending"), (ROW, "ascending")]))
    starts = np.flatnonzero(_boundaries(table[g]))
    bounds, chunk_start = [], 0
    for start in starts[1:]:
        if start - chunk_start >= options.rows_per_part:
            bounds.append((chunk_start, start))
            chunk_start = start
    bounds.append((chunk_start, table.num_rows))
    pieces = [score_groups(model, table.slice(a, b - a), options) for a, b in bounds]
    return pa.concat_tables(pieces)


# ---------------------------------------------------------------------------------------------------- the job
def _hashes(column: pa.ChunkedArray | pa.Array, partitions: int, cache: dict) -> np.ndarray:
    """The partition of each value: a stable hash (xxh64 of its text) modulo ``partitions``, -1 for null."""
    values = pc.unique(column)
    if len(cache) > 1_000_000:  # a table of very many groups: memory stays bounded
        cache.clear()
    for value in values.to_pylist():
        if value not in cache:
            cache[value] = -1 if value is None else xxhash.xxh64_intdigest(str(value).encode()) % partitions
    codes = pa.array([cache[v] for v in values.to_pylist()], pa.int64())
    return np.asarray(codes.take(pc.index_in(column, value_set=values)))


class _Partitioner:
    """Write rows to ``n`` Parquet files by the hash of their group, holding at most about ``_FLUSH_ROWS`` rows."""

    def __init__(self, folder: Path, n: int, schema: pa.Schema) -> None:
        self.folder, self.n, self.schema = folder, n, schema
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.buffers: dict[int, list[pa.Table]] = {}
        self.held = 0

    def add(self, table: pa.Table, partition: np.ndarray) -> None:
        order = np.argsort(partition, kind="stable")
        ordered = partition[order]
        table = table.take(pa.array(order))
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(ordered)], strict=True):
            self.buffers.setdefault(int(ordered[start]), []).append(table.slice(start, end - start))
        self.held += table.num_rows
        if self.held >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for index, pieces in self.buffers.items():
            if index not in self.writers:
                self.writers[index] = pq.ParquetWriter(partition_path(self.folder, index), self.schema)
            self.writers[index].write_table(pa.concat_tables(pieces))
        self.buffers, self.held = {}, 0

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()


def _allow_open_files(n: int) -> None:
    """Raise this process' open-file limit to hold ``n`` partition files open (up to the hard limit), or say
    which option lowers ``n``."""
    try:
        import resource
    except ImportError:  # not a Unix: its limits are the platform's
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = n + 256  # the files the process holds besides
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise ValueError(
                f"{n} partitions need {wanted} open files, over this system's limit of {hard}; raise --rows-per-part"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def partition_path(folder: Path, index: int) -> Path:
    """The partition file ``index`` of a job's ``partitions`` folder."""
    return folder / f"partition-{index:06d}.parquet"


def _partition(source: Source, folder: Path, options: SpeakerTableOptions, n: int, stats: SpeakerTableStats) -> None:
    """Write the rows of ``source`` (the columns read, plus :data:`ROW`) into ``n`` partition files under
    ``folder`` by the hash of their group; rows without a group or speaker are counted and left out."""
    _allow_open_files(n)
    shutil.rmtree(folder, ignore_errors=True)  # the partitions of a run killed while writing them
    folder.mkdir()
    names = [options.text_column, *options.columns()]
    schema = pa.schema([source.schema.field(name) for name in names]).append(pa.field(ROW, pa.int64()))
    partitioner, row = _Partitioner(folder, n, schema), 0
    cache: dict[Any, int] = {}
    bar = tqdm(total=source.num_rows, unit=" lines", unit_scale=True, desc="Partitioning", disable=not options.progress)
    with bar:
        for batch in source.batches():
            table = pa.Table.from_batches([batch]).select(names)
            table = table.append_column(ROW, pa.array(np.arange(row, row + batch.num_rows), pa.int64()))
            row += batch.num_rows
            partition = _hashes(table[options.group_column], n, cache)
            keep = (partition >= 0) & np.asarray(table[options.speaker_column].is_valid())
            stats.skipped += int((~keep).sum())
            if keep.any():
                partitioner.add(table.filter(pa.array(keep)).cast(schema), partition[keep])
            bar.update(batch.num_rows)
    partitioner.close()
    stats.rows = row


def _count_rows(source: Source) -> int:
    """The rows of ``source``: known from its metadata, else counted in one pass."""
    if source.num_rows is not None:
        return source.num_rows
    logger.info("Counting the rows of %s to size its partitions", source.description)
    return sum(batch.num_rows for batch in source.batches())


def _manifest(source: Source, model: BiLSTMClassifier, options: SpeakerTableOptions, schema: pa.Schema) -> dict:
    return {
        "version": 1,
        "kind": "speaker table",
        "input": source.fingerprint,
        "model": model_fingerprint(model),
        "columns": {option: column for column, option in options.columns().items()},
        "text_column": options.text_column,
        "rows_per_part": options.rows_per_part,
        "batch_size": options.batch_size,
        "schema": schema.to_string(show_schema_metadata=False),
    }


def score_speaker_table(
    model: BiLSTMClassifier,
    source: Source | str,
    output: str | os.PathLike,
    options: SpeakerTableOptions,
) -> SpeakerTableStats:
    """Score the characters of the speaker table ``source`` (a :class:`~movie_gender.inference.sources.Source`, or
    a path, folder, glob or Hub dataset id) into the Parquet file ``output``: one row per (group, speaker), sorted
    by both (:func:`output_schema`); resumes an unfinished job of the same input, model and options."""
    options.check()
    if isinstance(source, str):
        source = open_speaker_table(source, options)
    output = check_parquet_output(output, source)
    explain_missing(model, options)
    schema = output_schema(source.schema, options)
    with job_folder(output, _manifest(source, model, options, schema)) as (folder, _):
        return _run(model, source, output, options, schema, folder)


def open_speaker_table(spec: str, options: SpeakerTableOptions) -> Source:
    """The source ``spec`` names, checked to have the text column and every column ``options`` names."""
    options.check()
    return open_source(spec, options.text_column, options.split, options.revision, columns=options.columns(), added=())


def _run(
    model: BiLSTMClassifier, source: Source, output: Path, options: SpeakerTableOptions, schema: pa.Schema, folder: Path
) -> SpeakerTableStats:
    started = time.perf_counter()
    stats = SpeakerTableStats()
    partitions, scored = folder / "partitions", folder / "scored"
    done = partitions / _DONE
    if done.exists():
        stats.rows, stats.skipped, stats.partitions = map(int, done.read_text(encoding="utf-8").split())
        logger.info("Resuming %s: the %d partitions of %s are on disk", output, stats.partitions, source.description)
    else:
        stats.partitions = max(1, math.ceil(_count_rows(source) / options.rows_per_part))
        _partition(source, partitions, options, stats.partitions, stats)
        with atomic_path(done) as tmp:
            tmp.write_text(f"{stats.rows} {stats.skipped} {stats.partitions}", encoding="utf-8")
    scored.mkdir(exist_ok=True)
    for index in tqdm(range(stats.partitions), desc="Scoring partitions", disable=not options.progress):
        part = partition_path(scored, index)
        if part.exists():
            stats.parts_reused += 1
            continue
        source_part = partition_path(partitions, index)
        table = pq.read_table(source_part) if source_part.exists() else None
        result = schema.empty_table() if table is None else score_partition(model, table, options).cast(schema)
        with atomic_path(part) as tmp:
            pq.write_table(result, tmp)
        stats.parts_scored += 1
    stats.characters = merge_sorted([partition_path(scored, i) for i in range(stats.partitions)], output, schema)
    stats.seconds = time.perf_counter() - started
    logger.info(
        "Wrote %s characters of %s lines to %s in %.0f s; %s rows without a speaker or group left out",
        f"{stats.characters:,}",
        f"{stats.rows:,}",
        output,
        stats.seconds,
        f"{stats.skipped:,}",
    )
    return stats


def _sorted_rows(path: Path, keys: tuple[str, str]) -> Iterator[tuple[Any, Any, dict]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        for row in batch.to_pylist():
            yield row[keys[0]], row[keys[1]], row


def merge_sorted(paths: list[Path], output: Path, schema: pa.Schema, rows_per_group: int = 65_536) -> int:
    """Merge Parquet files each sorted by the first two columns of ``schema`` into ``output`` (atomically),
    holding one batch of each file and one row group of the output; returns the rows written."""
    keys = (schema.names[0], schema.names[1])
    written, pending = 0, []
    remove_stale(output)  # the temporary file of a run killed while merging
    with atomic_path(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for _, _, row in heapq.merge(*(_sorted_rows(path, keys) for path in paths), key=lambda t: (t[0], t[1])):
            pending.append(row)
            if len(pending) == rows_per_group:
                writer.write_table(pa.Table.from_pylist(pending, schema=schema))
                written, pending = written + len(pending), []
        if pending or not written:
            writer.write_table(pa.Table.from_pylist(pending, schema=schema))
            written += len(pending)
    return written


__all__ = [
    "SCORE_COLUMNS",
    "SpeakerTableOptions",
    "SpeakerTableStats",
    "explain_missing",
    "merge_sorted",
    "open_speaker_table",
    "output_schema",
    "partition_path",
    "reads_context",
    "score_groups",
    "score_partition",
    "score_speaker_table",
]
