"""The Cornell Movie-Dialogs Corpus as one Dataset: the lines joined with their speaker's gender and conversation.

Sources: the official zip URL (default), any http(s)/file URL of such a zip, a local zip, an extracted corpus
folder, or the tutorial's collated 7-field file. The files are ISO-8859-1 and records are split on ``\\n`` only
(``\\x85`` occurs inside text, and ``str.splitlines`` would break on it). How to read one is a
:class:`~movie_gender.configuration.CorpusSource`; the files are split by :mod:`movie_gender.data.corpus_records`
and read by :mod:`movie_gender.data.upstream`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from movie_gender.configuration import DEFAULT_URL, CorpusSource
from movie_gender.data.assembly import assemble
from movie_gender.data.conversations import (
    SOURCE_ADJACENCY,
    Conversations,
    by_adjacency,
    context_lists,
    context_positions,
    line_numbers,
)
from movie_gender.data.convokit import ConvoKitOptions, is_convokit, read_convokit
from movie_gender.data.corpus_records import SEPARATOR, CorpusStats, RecordReader, Records, thread_pool, trim
from movie_gender.data.download import fetch, public_source
from movie_gender.data.screenplay import SOURCE as SCREENPLAY_SOURCE
from movie_gender.data.screenplay import read_screenplays
from movie_gender.data.upstream import (
    CHARACTER_FIELDS,
    COLLATED_FIELDS,
    LINES_FIELDS,
    Listed,
    join_genders,
    listed_conversations,
    read_collated,
    read_conversations,
    upstream_files,
)
from movie_gender.errors import CorpusFormatError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_URL",
    "FEATURES",
    "FULL_CORPUS",
    "LABEL_NAMES",
    "SEPARATOR",
    "CorpusStats",
    "content_fingerprint",
    "corpus_dataset",
    "load_cornell",
    "load_screenplays",
    "read_characters",
    "read_corpus",
    "read_corpus_table",
    "read_screenplays_table",
]

LABEL_NAMES = ["male", "female"]
# Facts of the complete official corpus, logged so a user can check a real download against them.
FULL_CORPUS = {"lines": 304_713, "male": 170_768, "female": 71_255, "unknown": 62_690}

FEATURES = datasets.Features(
    {
        "line_id": datasets.Value("string"),
        "movie_id": datasets.Value("string"),
        "character_id": datasets.Value("string"),
        "character_name": datasets.Value("string"),
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=LABEL_NAMES),
        "conversation_id": datasets.Value("string"),
        "turn": datasets.Value("int32"),
        "context": datasets.List(datasets.Value("string")),
    }
)

# Lines per chunk of the context column: its pieces are cut out in parallel, and a chunking that depends on the
# content only (not on the cores) gives the same corpus the same fingerprint on every machine.
CONTEXT_CHUNK = 1 << 17


@dataclass
class _Read:
    """What the upstream files gave: the line records, the rows of them that are lines, their field numbers, each
    row's gender (0, 1, -1 for ?, -2 for a bad line already reported) and speaker (its character's row in the
    metadata; None: found from the character ids), and the conversations listed (None: the corpus lists none)."""

    records: Records
    rows: np.ndarray
    fields: dict[str, int]
    gender: np.ndarray
    speaker: np.ndarray | None = None
    listed: Listed | None = None


def _read_files(path: Path, reader: RecordReader, encoding: str) -> _Read:
    """Read the corpus at ``path`` (fetched): its upstream files, or the tutorial's collated file."""
    files = upstream_files(path)
    if files is None:
        records, rows, gender = read_collated(path, reader, encoding)
        return _Read(records, rows, COLLATED_FIELDS, gender)
    (lines_name, lines_data), (characters_name, characters_data), conversations_file = files
    characters = reader.records(characters_name, characters_data, 6, encoding)
    records = reader.records(lines_name, lines_data, 5, encoding)
    if not len(records.numbers):
        raise CorpusFormatError(lines_name, "no dialogue lines found")
    listed = None if conversations_file is None else read_conversations(*conversations_file, reader, encoding)
    gender, speaker = join_genders(records, characters, (lines_name, characters_name), reader)
    return _Read(records, np.arange(len(records.numbers)), LINES_FIELDS, gender, speaker, listed)


def _conversations(read: _Read, pool: np.ndarray, reader: RecordReader) -> tuple[pa.Array, pa.Array, Conversations]:
    """The trimmed line and movie ids of the records at ``pool``, and their conversations (listed, else by
    adjacency), counted in the stats."""
    records, fields, stats = read.records, read.fields, reader.stats
    ids = records.columns({"line_id": fields["line_id"], "movie_id": fields["movie_id"]}, pool)
    line_id, movie_id = (trim(ids[k], records.trimmed) for k in ("line_id", "movie_id"))
    if read.listed is not None:
        conversations = listed_conversations(read.listed, line_id, movie_id, reader)
        stats.lines_outside_conversations = conversations.outside
    else:
        conversations = by_adjacency(movie_id, line_numbers(line_id))
    stats.conversations_source, stats.conversations = conversations.source, conversations.count
    return line_id, movie_id, conversations


def _speakers(read: _Read, pool: np.ndarray, member: np.ndarray) -> np.ndarray:
    """A number per speaker of the records at ``pool`` (``member``: which of ``read.rows`` they are)."""
    if read.speaker is not None:
        return read.speaker[member]
    character_id = trim(read.records.field(read.fields["character_id"], pool), read.records.trimmed)
    return np.asarray(pc.dictionary_encode(character_id).indices.to_numpy(zero_copy_only=False))


def _cut_out(
    read: _Read, pool: np.ndarray, keep: np.ndarray, positions: np.ndarray
) -> tuple[dict[str, pa.Array], list[pa.Array]]:
    """The text, character id and name of the kept records, and the pieces of their context column, cut out in
    parallel (Arrow's take releases the GIL)."""
    records, fields = read.records, read.fields
    rows = pool[keep]
    with thread_pool() as executor:
        others = {
            k: executor.submit(records.field, fields[k], rows) for k in ("text", "character_id", "character_name")
        }
        context = context_lists(
            positions,
            lambda p: records.field(fields["text"], pool[p]),
            parts=max(1, -(-len(positions) // CONTEXT_CHUNK)),
            mapper=executor.map,
        )
        others = {k: future.result() for k, future in others.items()}
    return others, context


def _assemble(
    read: _Read, reader: RecordReader, context_size: int, include_unknown: bool
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns of the records read, and their labels: conversations and context come from every line whose
    character is known, the output holds the lines of known gender (and those of unknown gender too with
    ``include_unknown``)."""
    member = read.gender != -2
    pool, gender = read.rows[member], read.gender[member]
    reader.stats.unknown_gender += int((gender == -1).sum())
    keep = np.flatnonzero(gender >= (-1 if include_unknown else 0))
    line_id, movie_id, conversations = _conversations(read, pool, reader)
    speaker = _speakers(read, pool, member)
    conversation, turn, openers = conversations.rows(keep)
    positions = context_positions(conversations, speaker, keep, context_size)
    others, context = _cut_out(read, pool, keep, positions)
    openers = pa.array(openers)
    conversation_ids = pc.binary_join_element_wise(movie_id.take(openers), line_id.take(openers), ":")
    keep_array = pa.array(keep)
    trimmed = read.records.trimmed
    columns = {
        "line_id": line_id.take(keep_array),
        "movie_id": movie_id.take(keep_array),
        "character_id": trim(others["character_id"], trimmed),
        "character_name": trim(others["character_name"], trimmed),
        "text": others["text"],
        "conversation_id": conversation_ids.take(pa.array(conversation)),
        "turn": pa.array(turn, pa.int32()),
        "context": pa.chunked_array(context, FEATURES.arrow_schema.field("context").type),
    }
    return columns, gender[keep]


def _read_columns(path: Path, corpus: CorpusSource, reader: RecordReader) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns and labels of the corpus at ``path`` (fetched): a ConvoKit corpus folder, else the upstream files
    or the tutorial's collated file."""
    if is_convokit(path):
        options = ConvoKitOptions(corpus.gender_field, corpus.gender_map, corpus.group_field)
        lines = read_convokit(path, options, reader)
        stats = reader.stats
        stats.lines_read = len(lines.line_id)
        stats.conversations_source, stats.conversations = lines.conversations.source, lines.conversations.count
        return assemble(lines, corpus.context_size, corpus.include_unknown, CONTEXT_CHUNK)
    read = _read_files(path, reader, corpus.encoding)
    reader.stats.lines_read = len(read.rows)
    return _assemble(read, reader, corpus.context_size, corpus.include_unknown)


def content_fingerprint(table: pa.Table) -> str:
    """An xxhash of the table's Arrow buffers: what ``datasets`` would otherwise get by pickling the whole table, at
    a fraction of the cost. A column in several chunks is hashed as one array (its chunks joined), so the hash does
    not follow how the rows are chunked: a Dataset's selected rows come back one chunk per row, and hashing those
    one by one took 20 s for the 36,000 labelled lines of the sample."""
    hasher = xxhash.xxh3_64(repr((table.schema, table.num_rows)).encode())
    for column in table.columns:
        if column.num_chunks == 0:
            continue
        array = column.combine_chunks() if column.num_chunks > 1 else column.chunk(0)
        hasher.update(f"{array.offset}:{len(array)}".encode())
        for buffer in array.buffers():
            if buffer is not None:
                hasher.update(buffer)
    return hasher.hexdigest()


def corpus_dataset(table: pa.Table, fingerprint: str | None = None) -> datasets.Dataset:
    """The Dataset of a table of :func:`read_corpus_table` (datasets' public constructor: the table as it is, no
    copy), fingerprinted by its content (``fingerprint`` when already computed), not by pickling it."""
    info = datasets.DatasetInfo(features=FEATURES)
    return datasets.Dataset(table, info=info, fingerprint=fingerprint or content_fingerprint(table))


def _as_source(corpus: CorpusSource | str | os.PathLike) -> CorpusSource:
    """``corpus`` as a :class:`CorpusSource` (a plain source: read with the default settings)."""
    return corpus if isinstance(corpus, CorpusSource) else CorpusSource(corpus)


def published_source(corpus: CorpusSource) -> str:
    """``corpus``'s source as it may be published (:func:`~movie_gender.data.download.public_source`: no local
    path)."""
    source = public_source(corpus.source)
    if source is None:
        raise ValueError("the corpus has no source (a path or a URL)")
    return source


def read_corpus(corpus: CorpusSource | str | os.PathLike = DEFAULT_URL) -> tuple[datasets.Dataset, CorpusStats]:
    """Like :func:`load_cornell`, but also returns the :class:`CorpusStats` of what was kept and skipped."""
    table, stats = read_corpus_table(corpus)
    return corpus_dataset(table), stats


def read_corpus_table(corpus: CorpusSource | str | os.PathLike = DEFAULT_URL) -> tuple[pa.Table, CorpusStats]:
    """Like :func:`read_corpus`, but the Arrow table (schema ``FEATURES.arrow_schema``) instead of a Dataset of it,
    for callers that make their own Datasets of it (:func:`movie_gender.build_dataset`: one per split)."""
    corpus = _as_source(corpus)
    stats = CorpusStats(
        source=published_source(corpus),
        context_size=corpus.context_size,
        include_unknown=corpus.include_unknown,
    )
    reader = RecordReader(stats, corpus.skip_bad_lines)
    path = fetch(corpus.source, sha256=corpus.sha256)
    columns, labels = _read_columns(path, corpus, reader)
    if stats.skipped_bad_lines:
        logger.warning(
            "Skipped %d malformed lines, e.g. %s", stats.skipped_bad_lines, "; ".join(stats.skipped_examples[:3])
        )
    if not (labels >= 0).any() and not (corpus.include_unknown and len(labels)):
        raise CorpusFormatError(path, "no lines of known gender (m/f) after joining")
    table = pa.table({**columns, "label": pa.array(labels, pa.int64())}, schema=FEATURES.arrow_schema)
    stats.female = int((labels == 1).sum())
    stats.male = int((labels == 0).sum())
    stats.movies = len(pc.unique(table.column("movie_id")))
    stats.characters = len(pc.unique(table.column("character_id")))
    _log_read(stats, corpus)
    return table, stats


def _log_read(stats: CorpusStats, corpus: CorpusSource) -> None:
    """Log what was read, beside the facts of the full corpus, and where the conversations came from."""
    logger.info(
        "Read %s lines from %s: %s male, %s female, %s of unknown gender (%s), %s movies, %s characters. "
        "The full official corpus gives %s lines: %s male / %s female / %s unknown.",
        f"{stats.lines_read:,}",
        corpus.source,
        f"{stats.male:,}",
        f"{stats.female:,}",
        f"{stats.unknown_gender:,}",
        "kept, label -1" if corpus.include_unknown else "dropped",
        stats.movies,
        f"{stats.characters:,}",
        *(f"{FULL_CORPUS[k]:,}" for k in ("lines", "male", "female", "unknown")),
    )
    outside = (
        f"; {stats.lines_outside_conversations:,} lines it does not list are conversations of their own"
        if stats.lines_outside_conversations
        else ""
    )
    k = corpus.context_size
    context = f"up to {k} lines of other speakers before and {k} after each line" if k else "off (context_size 0)"
    source = stats.conversations_source
    if source == SOURCE_ADJACENCY:
        source = f"{source} (the corpus has no movie_conversations.txt, so exchanges that follow each other merge)"
    logger.info(
        "Conversations from %s: %s conversations%s; context: %s",
        source,
        f"{stats.conversations:,}",
        outside,
        context,
    )


def load_cornell(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = CorpusSource.sha256,
    skip_bad_lines: bool = CorpusSource.skip_bad_lines,
    encoding: str = CorpusSource.encoding,
    context_size: int = CorpusSource.context_size,
    include_unknown: bool = CorpusSource.include_unknown,
) -> datasets.Dataset:
    """Load the corpus as a Dataset of lines spoken by characters of known gender.

    Args:
        source: the official zip URL (default), an http(s)/file URL, a local zip, an extracted folder, or the
            tutorial's collated 7-field file. Downloads are cached (see :func:`movie_gender.data.download.cache_dir`).
        sha256: optional checksum of the zip or file.
        skip_bad_lines: count and skip malformed lines (reported in the log) instead of raising.
        encoding: text encoding of the files (upstream: ISO-8859-1).
        context_size: ``K``, the most lines of other speakers taken before, and again after, each line for
            ``context`` (0: no context).
        include_unknown: keep the lines of characters of unknown gender (``?``) too, with ``label`` -1 (no label):
            for predictions, not for training.

    Returns:
        Columns line_id, movie_id, character_id, character_name, text, label (ClassLabel male=0, female=1),
        conversation_id (``MOVIE:FIRST_LINE_ID``), turn (0-based position in the conversation) and context (up to
        ``K`` lines of other speakers before the line, then up to ``K`` after it, in the order spoken), in corpus
        order. Conversations come from ``movie_conversations.txt`` when the corpus has it, else from line-id
        adjacency (see :mod:`movie_gender.data.conversations`); context draws on every line of the conversation,
        including those of characters of unknown gender. Lines whose character's gender is ``?`` are dropped
        (and counted in the log) unless ``include_unknown``.

    Raises:
        CorpusFormatError: naming the file and line of the first malformed record.
        DownloadError: when a URL cannot be fetched.
    """
    return read_corpus(
        CorpusSource(
            source,
            sha256=sha256,
            skip_bad_lines=skip_bad_lines,
            encoding=encoding,
            context_size=context_size,
            include_unknown=include_unknown,
        )
    )[0]


def read_characters(corpus: CorpusSource | str | os.PathLike = DEFAULT_URL) -> pa.Table | None:
    """Every character of ``movie_characters_metadata.txt`` (also those who speak no line): ``character_id``,
    ``character_name``, ``movie_id``, ``movie_title`` and ``label`` (0 male, 1 female, -1 unknown), in file order;
    None for the tutorial's collated file, which has no metadata file, and for a ConvoKit corpus. Malformed records
    raise (naming file and line) or, with ``skip_bad_lines``, are left out. ``corpus``'s checksum is not checked
    again, nor its context read."""
    corpus = _as_source(corpus)
    path = fetch(corpus.source)
    files = None if is_convokit(path) else upstream_files(path)
    if files is None:
        return None
    name, data = files[1]
    reader = RecordReader(CorpusStats(source=published_source(corpus)), corpus.skip_bad_lines)
    records = reader.records(name, data, 6, corpus.encoding)
    gender = reader.genders(name, records.numbers, records.field(4))
    keep = np.flatnonzero(gender != -2)
    columns = {key: pc.utf8_trim_whitespace(records.field(k, keep)) for key, k in CHARACTER_FIELDS.items()}
    return pa.table({**columns, "label": pa.array(gender[keep], pa.int64())})


def read_screenplays_table(
    patterns: list[str | os.PathLike], context_size: int = CorpusSource.context_size
) -> tuple[pa.Table, CorpusStats]:
    """The table of the screenplays that ``patterns`` name (Fountain or plain-text files, folders or globs; see
    :mod:`movie_gender.data.screenplay`), schema ``FEATURES.arrow_schema``: every line of unknown gender (label -1),
    each scene a conversation, with up to ``context_size`` lines of other speakers on each side as context."""
    lines = read_screenplays(patterns)
    stats = CorpusStats(
        source=", ".join(Path(str(p)).name for p in patterns),
        lines_read=len(lines.line_id),
        unknown_gender=len(lines.line_id),
        conversations_source=SCREENPLAY_SOURCE,
        conversations=lines.conversations.count,
        context_size=context_size,
        include_unknown=True,
    )
    columns, labels = assemble(lines, context_size, True, CONTEXT_CHUNK)
    table = pa.table({**columns, "label": pa.array(labels, pa.int64())}, schema=FEATURES.arrow_schema)
    stats.movies = len(pc.unique(table.column("movie_id")))
    stats.characters = len(pc.unique(table.column("character_id")))
    return table, stats


def load_screenplays(
    patterns: list[str | os.PathLike], *, context_size: int = CorpusSource.context_size
) -> datasets.Dataset:
    """The lines of screenplays as a Dataset of the corpus' columns (:func:`read_screenplays_table`), every label
    -1 (unknown): for ``predict_characters``, ``predict --screenplay`` and ``label-characters --screenplay``."""
    return corpus_dataset(read_screenplays_table(patterns, context_size)[0])
