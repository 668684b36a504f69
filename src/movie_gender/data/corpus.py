"""Reading the Cornell Movie-Dialogs Corpus in its upstream formats and joining lines with character gender.

Sources: the official zip URL (default), any http(s)/file URL of such a zip, a local zip, an extracted corpus
folder, or the tutorial's collated 7-field file. The files are ISO-8859-1 and records are split on ``\\n`` only
(``\\x85`` occurs inside text, and ``str.splitlines`` would break on it).
"""

from __future__ import annotations

import logging
import mmap
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from movie_gender.data.conversations import (
    DEFAULT_CONTEXT_SIZE,
    Conversations,
    by_adjacency,
    context_lists,
    context_positions,
    from_lists,
    line_numbers,
)
from movie_gender.data.download import fetch, public_source
from movie_gender.errors import CorpusFormatError

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
SEPARATOR = " +++$+++ "
LINES_FILE = "movie_lines.txt"
CHARACTERS_FILE = "movie_characters_metadata.txt"
CONVERSATIONS_FILE = "movie_conversations.txt"
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


@dataclass
class CorpusStats:
    """What reading the corpus kept and dropped, for the log and the dataset card."""

    source: str = ""
    lines_read: int = 0
    male: int = 0
    female: int = 0
    unknown_gender: int = 0
    movies: int = 0
    characters: int = 0
    skipped_bad_lines: int = 0
    skipped_examples: list[str] = field(default_factory=list)
    blank_lines: int = 0
    conversations_source: str = ""  # "movie_conversations.txt" or "line-id adjacency"
    conversations: int = 0
    lines_outside_conversations: int = 0  # movie_conversations.txt lists no conversation for them
    context_size: int = DEFAULT_CONTEXT_SIZE
    include_unknown: bool = False

    def to_dict(self) -> dict:
        """The report as a plain dict (for JSON)."""
        return asdict(self)


# The cores this process may use (a container's CPU set, not the host's count), for the thread pools below.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
# Lines per chunk of the context column: its pieces are cut out in parallel, and a chunking that depends on the
# content only (not on the cores) gives the same corpus the same fingerprint on every machine.
CONTEXT_CHUNK = 1 << 17
_SEPARATOR_HEAD = int.from_bytes(SEPARATOR.rstrip().encode(), "little")  # " +++$+++" as one 8-byte word


class _Inline(Executor):
    """Runs each call at once, in the calling thread: with one core a thread pool only adds hand-offs (~10 ms a
    read of the full corpus on a busy machine)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def map(
        self, fn: Callable[..., Any], *iterables: Iterable, timeout: float | None = None, chunksize: int = 1
    ) -> Iterator:
        return map(fn, *iterables)


def _executor(tasks: int) -> Executor:
    """A thread pool for ``tasks`` calls that release the GIL (numpy, Arrow), on as many of the cores as they can
    use; inline when that is one."""
    workers = min(tasks, _CPUS)
    return ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline()


def _scan(data: bytes, block: int = 1 << 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the newlines and of the separators in ``data``, and for each separator whether the byte before
    it, and the byte after it, may be whitespace (see :data:`_MAYBE_SPACE`). A separator is ``" +++$+++"`` followed
    by a space, a newline or the end of the data. Found block by block: the temporaries and the bytes looked up stay
    in the CPU cache, and numpy releases the GIL, so blocks run in parallel."""
    buffer = np.frombuffer(data, np.uint8)
    words = np.ndarray((len(data) - 7,), "<u8", data, 0, (1,))  # words[i] = the 8 bytes from i on
    last = len(data) - 1

    def scan_block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        part = buffer[start : start + block]
        newlines = np.flatnonzero(part == ord("\n")).astype(np.int32) + start
        heads = np.flatnonzero(part == ord("$")) + (start - 4)  # where " +++$+++" would begin
        if start >= 5 and start + block + 5 <= len(data):  # every byte looked at below lies inside the data
            after = buffer[heads + 8]
            heads = heads[(words[heads] == _SEPARATOR_HEAD) & ((after == ord(" ")) | (after == ord("\n")))]
            before_separator, after_separator = heads - 1, heads + len(SEPARATOR)
        else:  # the first and the last block
            heads = heads[(heads >= 0) & (heads <= len(data) - 8)]
            after = buffer[np.minimum(heads + 8, last)]
            end = heads + 8 == len(data)
            heads = heads[(words[heads] == _SEPARATOR_HEAD) & ((after == ord(" ")) | (after == ord("\n")) | end)]
            before_separator, after_separator = np.maximum(heads - 1, 0), np.minimum(heads + len(SEPARATOR), last)
        space_before = np.take(_MAYBE_SPACE, buffer[before_separator])
        space_after = np.take(_MAYBE_SPACE, buffer[after_separator])
        return newlines, heads.astype(np.int32), space_before, space_after

    starts = range(0, len(data), block)
    with _executor(len(starts)) as pool:
        parts = zip(*pool.map(scan_block, starts), strict=False)
        newlines, separators, space_before, space_after = (np.concatenate(part) for part in parts)
    return newlines, separators, space_before, space_after


# Bytes that may be (part of) whitespace: ASCII whitespace and separators, and the bytes of non-ASCII characters.
_MAYBE_SPACE = np.zeros(256, bool)
_MAYBE_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAYBE_SPACE[0x80:] = True


def split_regular(data: bytes, n_fields: int) -> Records | None:
    """The records of a regular UTF-8 file, found with numpy, or None if the file is not regular.

    Regular: under 2 GiB, no ``\\r``, no blank line, no two separators sharing a space, and exactly ``n_fields - 1``
    separators on every line (the last one may have lost its trailing space). That is every upstream file; anything
    else (including every malformed line) goes through :meth:`_Reader.split_general`, which gives the same fields
    and reports what is wrong. No Python object is made per line.

    Each field is a string array over ``data`` itself of ``2 * lines - 1`` entries: the field of line ``i`` at entry
    ``2 * i``, the bytes up to the same field of the next line in between (see :meth:`Records.field`).
    """
    if not 8 <= len(data) < 2**31 or data.find(b"\r") >= 0:
        return None
    ends, separators, space_before, space_after = _scan(data)
    if data[-1:] != b"\n":
        ends = np.append(ends, np.int32(len(data)))
    n = len(ends)
    # Two separators share a space when one begins where the one before it ends (" +++$+++ +++$+++ "): 8 bytes on.
    if len(separators) != (n_fields - 1) * n or (np.diff(separators) == len(SEPARATOR) - 1).any():
        return None  # a count that cannot add up, or two separators sharing a space
    starts = np.empty(n, np.int32)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    separators = separators.reshape(n, n_fields - 1)
    if not ((separators[:, 0] >= starts).all() and (separators[:, -1] < ends).all()):
        return None  # some line has more separators and another fewer
    data_buffer, fields = pa.py_buffer(data), []
    for k in range(n_fields):
        offsets = np.empty(2 * n, np.int32)
        offsets[0::2] = starts if k == 0 else np.minimum(separators[:, k - 1] + len(SEPARATOR), ends)
        offsets[1::2] = ends if k == n_fields - 1 else separators[:, k]
        fields.append(pa.Array.from_buffers(pa.string(), 2 * n - 1, [None, pa.py_buffer(offsets), data_buffer]))
    # Every field but the last is trimmed already when none of its edges may be whitespace: the first byte of each
    # line, the byte before each separator, the byte after each separator but the last (an empty field's edges are
    # the separators' spaces, so it never counts as trimmed).
    trimmed = not (
        space_before.any()
        or space_after.reshape(n, n_fields - 1)[:, :-1].any()
        or np.take(_MAYBE_SPACE, np.frombuffer(data, np.uint8)[starts]).any()
    )
    return Records(np.arange(1, n + 1), fields, stride=2, trimmed=trimmed)


@dataclass
class Records:
    """The well-formed records of one file: their 1-based line numbers, and each field cut out on request.

    ``stride`` is 2 when the field arrays come from :func:`split_regular` (each field interleaved with the bytes
    between): a field is then copied out only for the rows that are kept, once. ``trimmed`` says that no field but
    the last has leading or trailing whitespace, so the identifiers need no trimming.
    """

    numbers: np.ndarray
    fields: list[pa.Array]
    stride: int = 1
    trimmed: bool = False

    def field(self, k: int, rows: np.ndarray | None = None) -> pa.Array:
        """Field ``k`` of every record, or of the records at positions ``rows`` only."""
        if rows is None:
            if self.stride == 1:
                return self.fields[k]
            rows = np.arange(len(self.numbers))
        return pc.take(self.fields[k], pa.array(np.asarray(rows, np.int64) * self.stride))

    def columns(self, fields: dict[str, int], rows: np.ndarray | None = None) -> dict[str, pa.Array]:
        """Several named fields (name -> field number) at once, cut out in parallel: Arrow releases the GIL."""
        with _executor(len(fields)) as pool:
            return dict(zip(fields, pool.map(lambda k: self.field(k, rows), fields.values()), strict=False))


class _Reader:
    """Splits one upstream file into records, raising or counting bad lines."""

    def __init__(self, stats: CorpusStats, skip_bad_lines: bool) -> None:
        self.stats = stats
        self.skip_bad_lines = skip_bad_lines

    def bad(self, name: str, line: int, message: str) -> None:
        if not self.skip_bad_lines:
            raise CorpusFormatError(
                name, message + " (pass skip_bad_lines=True / --skip-bad-lines to skip such lines)", line
            )
        self.stats.skipped_bad_lines += 1
        if len(self.stats.skipped_examples) < 10:
            self.stats.skipped_examples.append(f"{name}:{line}: {message}")

    def records(self, name: str, data: bytes, n_fields: int, encoding: str) -> Records:
        """The well-formed records of one file: by :func:`split_regular` when the file is regular, else line by line."""
        latin1 = encoding.lower().replace("-", "").replace("_", "") in {"latin1", "iso88591"}
        if latin1 and _is_ascii(data):
            utf8, text = data, None  # ASCII is valid ISO-8859-1 and UTF-8 alike: no decoding needed
        else:
            try:
                text = str(data, encoding)
            except UnicodeDecodeError as error:
                line = data[: error.start].count(b"\n") + 1
                raise CorpusFormatError(name, f"cannot decode as {encoding}: {error.reason}", line) from None
            if latin1:
                self.check_not_utf8(name, data)
            utf8 = text.encode("utf-8")
        regular = split_regular(utf8, n_fields)
        if regular is not None:
            return regular
        return self.split_general(name, str(utf8, "utf-8") if text is None else text, n_fields)

    def split_general(self, name: str, text: str, n_fields: int) -> Records:
        """Any file: counts blank lines and raises on (or counts and skips) malformed ones."""
        pieces = text.split("\n")
        if pieces and pieces[-1] == "":
            pieces.pop()  # the newline that ends the file
        lines = pc.utf8_rtrim(pa.array(pieces, pa.string()), characters="\r")
        blank = _numpy(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0))
        self.stats.blank_lines += int(blank.sum())
        # An empty last field whose trailing space was stripped: put the space back so the split finds it.
        lines = pc.if_else(pc.ends_with(lines, SEPARATOR.rstrip()), pc.binary_join_element_wise(lines, " ", ""), lines)
        split = pc.split_pattern(lines, SEPARATOR, max_splits=n_fields - 1)
        counts = _numpy(pc.list_value_length(split))
        for row in np.flatnonzero(~blank & (counts != n_fields)):
            self.bad(
                name,
                int(row) + 1,
                f"expected {n_fields} fields separated by {SEPARATOR.strip()!r}, found {counts[row]}",
            )
        keep = ~blank & (counts == n_fields)
        split = split.filter(pa.array(keep))
        return Records(np.flatnonzero(keep) + 1, [pc.list_element(split, i) for i in range(n_fields)])

    @staticmethod
    def check_not_utf8(name: str, data: bytes) -> None:
        """Upstream files are ISO-8859-1; one that decodes cleanly as UTF-8 with multi-byte characters is not."""
        try:
            decoded = str(data, "utf-8")
        except UnicodeDecodeError:
            return
        if len(decoded) < len(data):
            line = data[: int(np.argmax(np.frombuffer(data, np.uint8) >= 0x80))].count(b"\n") + 1
            raise CorpusFormatError(
                name,
                "the file is UTF-8, not ISO-8859-1 like the upstream corpus; re-save it as "
                "ISO-8859-1 or pass encoding='utf-8' (--encoding utf-8)",
                line,
            )

    def genders(self, name: str, numbers: np.ndarray, codes: pa.Array) -> np.ndarray:
        """0 (m), 1 (f), -1 (?) per record; -2 for a bad code, after raising or counting it."""
        keys = pc.utf8_lower(pc.utf8_trim_whitespace(codes))
        out = np.full(len(keys), -2, dtype=np.int64)
        for code, value in (("m", 0), ("f", 1), ("?", -1)):
            out[_numpy(pc.equal(keys, code))] = value
        for row in np.flatnonzero(out == -2):
            self.bad(name, int(numbers[row]), f"unknown gender code {codes[row].as_py()!r} (expected m, M, f, F or ?)")
        return out


def _numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean or integer Arrow array as numpy (nulls as False / 0)."""
    if pa.types.is_boolean(array.type):
        array = pc.fill_null(array, False)
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _find_member(names: list[str], wanted: str) -> str | None:
    candidates = [n for n in names if n.rsplit("/", 1)[-1] == wanted and not n.startswith("__MACOSX")]
    return min(candidates, key=len) if candidates else None


def _read_from_zip(path: Path) -> list[tuple[str, bytes] | None]:
    """(name, bytes) of movie_lines.txt, movie_characters_metadata.txt and movie_conversations.txt (None if absent)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CorpusFormatError(path, f"not a readable zip file ({error}); is the download truncated?") from None
    with archive:
        names = archive.namelist()
        found: list[tuple[str, bytes] | None] = []
        for wanted in (LINES_FILE, CHARACTERS_FILE, CONVERSATIONS_FILE):
            member = _find_member(names, wanted)
            if member is None:
                if wanted == CONVERSATIONS_FILE:
                    found.append(None)
                    continue
                raise CorpusFormatError(
                    path, f"the zip holds no {wanted} (expected the 'cornell movie-dialogs corpus/' folder)"
                )
            try:
                found.append((f"{path}!{member}", archive.read(member)))
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise CorpusFormatError(path, f"cannot read {member} from the zip ({error})") from None
        return found


def _read_from_folder(path: Path) -> list[tuple[str, bytes] | None]:
    """Like :func:`_read_from_zip`, for an extracted folder."""
    found: list[tuple[str, bytes] | None] = []
    for wanted in (LINES_FILE, CHARACTERS_FILE, CONVERSATIONS_FILE):
        matches = sorted(p for p in path.rglob(wanted) if "__MACOSX" not in p.parts)
        if not matches:
            if wanted == CONVERSATIONS_FILE:
                found.append(None)
                continue
            raise CorpusFormatError(path, f"the folder holds no {wanted}")
        found.append((str(matches[0]), _map_file(matches[0])))
    return found


def _is_ascii(data: bytes | mmap.mmap) -> bool:
    """Whether every byte is below 0x80."""
    if isinstance(data, bytes):
        return data.isascii()
    return len(data) == 0 or int(np.frombuffer(data, np.uint8).max()) < 0x80


def _map_file(path: Path) -> bytes | mmap.mmap:
    """The bytes of a file, mapped into memory (read-only) rather than copied: reading 31 MB into a new bytes object
    costs ~15 ms of page faults and copying; the mapped pages are the page cache's own. Nothing read from it outlives
    :func:`read_corpus_table` (every column is cut out into new buffers), so the mapping closes when it returns. As
    with any memory-mapped file (``datasets``' Arrow caches too), a file truncated while it is read would crash the
    process instead of raising."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            return b""
        if hasattr(mmap, "MAP_POPULATE"):  # Linux: map the whole file at once rather than on first touch
            return mmap.mmap(file.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ)
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


@dataclass
class _Listed:
    """The well-formed conversations of movie_conversations.txt: the line ids of all of them, flattened in order,
    the conversation (0, 1, ...) of each id, and per conversation its movie and the line of the file it came from."""

    name: str
    ids: pa.Array
    conversation: np.ndarray
    movie: pa.Array
    numbers: np.ndarray

    def without(self, conversations: np.ndarray) -> _Listed:
        """The same, minus some conversations (numbered as before)."""
        keep = ~np.isin(self.conversation, conversations)
        return _Listed(self.name, self.ids.filter(pa.array(keep)), self.conversation[keep], self.movie, self.numbers)


# ['L194', 'L195', 'L196']: one or more quoted ids (no quote, bracket, comma or space inside), comma-separated.
_ID_LIST = r"^\[\s*'[^'\[\],\s]+'(\s*,\s*'[^'\[\],\s]+')*\s*\]$"


def _read_conversations(name: str, data: bytes, reader: _Reader, encoding: str) -> _Listed:
    """movie_conversations.txt (``u0 +++$+++ u2 +++$+++ m0 +++$+++ ['L194', 'L195']``): a malformed list of ids, or
    an id that an earlier conversation already holds, is a bad line (raised, or counted and skipped)."""
    records = reader.records(name, data, 4, encoding)
    lists = pc.utf8_trim_whitespace(records.field(3))
    well_formed = _numpy(pc.match_substring_regex(lists, _ID_LIST))
    for row in np.flatnonzero(~well_formed):
        reader.bad(
            name,
            int(records.numbers[row]),
            f"expected the conversation's line ids as a list like ['L194', 'L195'], found {lists[row].as_py()[:60]!r}",
        )
    rows = np.flatnonzero(well_formed)
    split = pc.split_pattern(pc.replace_substring_regex(lists.filter(pa.array(well_formed)), r"[\[\]'\s]", ""), ",")
    ids = pc.list_flatten(split)
    conversation = np.asarray(pc.list_parent_indices(split).to_numpy(zero_copy_only=False), dtype=np.int64)
    movie = pc.utf8_trim_whitespace(records.field(2, rows))
    listed = _Listed(name, ids, conversation, movie, records.numbers[rows])
    codes = np.asarray(pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False))
    _, first = np.unique(codes, return_index=True)
    repeated = np.flatnonzero(first[codes] != np.arange(len(codes)))
    if len(repeated):
        bad = {}
        for i in repeated:  # one report per conversation, naming the first repeated id
            bad.setdefault(int(conversation[i]), i)
        for c, i in sorted(bad.items()):
            earlier = int(listed.numbers[conversation[first[codes[i]]]])
            reader.bad(
                name,
                int(listed.numbers[c]),
                f"line id {ids[i].as_py()!r} is already in the conversation on line {earlier}",
            )
        listed = listed.without(np.array(sorted(bad)))
    return listed


def _listed_conversations(listed: _Listed, line_id: pa.Array, movie: pa.Array, reader: _Reader) -> Conversations:
    """Conversations from movie_conversations.txt; one that lists a line of another movie is a bad line."""
    position = _numpy(pc.fill_null(pc.index_in(line_id, value_set=listed.ids), -1))
    found = np.flatnonzero(position >= 0)
    conversation = listed.conversation[position[found]]
    mismatch = _numpy(pc.not_equal(movie.take(pa.array(found)), listed.movie.take(pa.array(conversation))))
    if mismatch.any():
        bad = {}
        for i in np.flatnonzero(mismatch):
            bad.setdefault(int(conversation[i]), int(found[i]))
        for c, line in sorted(bad.items()):
            reader.bad(
                listed.name,
                int(listed.numbers[c]),
                f"conversation of movie {listed.movie[c].as_py()!r} lists {line_id[line].as_py()!r}, a line of "
                f"movie {movie[line].as_py()!r}",
            )
        listed = listed.without(np.array(sorted(bad)))
    return from_lists(line_id, listed.ids, listed.conversation)


def _trim(array: pa.Array, trimmed: bool) -> pa.Array:
    return array if trimmed else pc.utf8_trim_whitespace(array)


def _assemble(
    records: Records,
    rows: np.ndarray,
    fields: dict[str, int],
    gender: np.ndarray,
    speaker: np.ndarray | None,
    reader: _Reader,
    listed: _Listed | None,
    context_size: int,
    include_unknown: bool,
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns of the records at ``rows`` (``gender`` per row: 0, 1, -1 for ?, -2 for a bad line already
    reported): conversations and context come from every line whose character is known, the output holds the lines
    of known gender (and those of unknown gender too with ``include_unknown``)."""
    stats = reader.stats
    member = gender != -2
    pool, gender = rows[member], gender[member]
    stats.unknown_gender += int((gender == -1).sum())
    keep = np.flatnonzero(gender >= (-1 if include_unknown else 0))
    ids = records.columns({"line_id": fields["line_id"], "movie_id": fields["movie_id"]}, pool)
    line_id, movie_id = (_trim(ids[k], records.trimmed) for k in ("line_id", "movie_id"))
    if listed is not None:
        conversations = _listed_conversations(listed, line_id, movie_id, reader)
        stats.lines_outside_conversations = conversations.outside
    else:
        conversations = by_adjacency(movie_id, line_numbers(line_id))
    stats.conversations_source, stats.conversations = conversations.source, conversations.count
    if speaker is None:
        speaker = np.asarray(
            pc.dictionary_encode(_trim(records.field(fields["character_id"], pool), records.trimmed)).indices.to_numpy(
                zero_copy_only=False
            )
        )
    else:
        speaker = speaker[member]
    conversation, turn, openers = conversations.rows(keep)
    positions = context_positions(conversations, speaker, keep, context_size)
    rows = pool[keep]
    with _executor(_CPUS) as executor:  # Arrow's take releases the GIL: cut out in parallel
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
    openers = pa.array(openers)
    conversation_ids = pc.binary_join_element_wise(movie_id.take(openers), line_id.take(openers), ":")
    keep_array = pa.array(keep)
    columns = {
        "line_id": line_id.take(keep_array),
        "movie_id": movie_id.take(keep_array),
        "character_id": _trim(others["character_id"], records.trimmed),
        "character_name": _trim(others["character_name"], records.trimmed),
        "text": others["text"],
        "conversation_id": conversation_ids.take(pa.array(conversation)),
        "turn": pa.array(turn, pa.int32()),
        "context": pa.chunked_array(context, FEATURES.arrow_schema.field("context").type),
    }
    return columns, gender[keep]


def content_fingerprint(table: pa.Table) -> str:
    """An xxhash of the table's Arrow buffers: what ``datasets`` would otherwise get by pickling the whole table, at
    a fraction of the cost."""
    hasher = xxhash.xxh3_64(repr((table.schema, table.num_rows)).encode())
    for column in table.columns:
        for chunk in column.chunks:
            hasher.update(f"{chunk.offset}:{len(chunk)}".encode())
            for buffer in chunk.buffers():
                if buffer is not None:
                    hasher.update(buffer)
    return hasher.hexdigest()


def corpus_dataset(table: pa.Table, fingerprint: str | None = None) -> datasets.Dataset:
    """The Dataset of a table of :func:`read_corpus_table` (datasets' public constructor: the table as it is, no
    copy), fingerprinted by its content (``fingerprint`` when already computed), not by pickling it."""
    info = datasets.DatasetInfo(features=FEATURES)
    return datasets.Dataset(table, info=info, fingerprint=fingerprint or content_fingerprint(table))


def _join_genders(lines: Records, characters: Records, names: tuple[str, str], reader: _Reader):
    """movie_lines x movie_characters_metadata on the character id (vectorised with Arrow): the gender of each line
    (0, 1, -1 for ?, -2 for a bad line, reported) and its speaker (the character's row in the metadata)."""
    lines_name, characters_name = names
    char_gender = reader.genders(characters_name, characters.numbers, characters.field(4))
    valid = char_gender != -2  # a character whose metadata line was bad (already reported) has no entry
    char_ids = pc.utf8_trim_whitespace(characters.field(0)).filter(pa.array(valid))
    char_gender = char_gender[valid]
    character_id = _trim(lines.field(1), lines.trimmed)
    position = _numpy(pc.fill_null(pc.index_in(character_id, value_set=char_ids), -1))
    for row in np.flatnonzero(position < 0):
        reader.bad(
            lines_name,
            int(lines.numbers[row]),
            f"character {character_id[row].as_py()!r} has no valid entry in {CHARACTERS_FILE}",
        )
    return np.where(position >= 0, char_gender[np.maximum(position, 0)], -2), position


LINES_FIELDS = {"line_id": 0, "character_id": 1, "movie_id": 2, "character_name": 3, "text": 4}
COLLATED_FIELDS = {"line_id": 0, "character_id": 1, "movie_id": 2, "character_name": 3, "text": 5}


def _read_collated(path: Path, reader: _Reader, encoding: str) -> tuple[Records, np.ndarray, np.ndarray]:
    """The records of the tutorial's collated 7-field file, the rows that are lines (not the header), their gender."""
    records = reader.records(str(path), path.read_bytes(), 7, encoding)
    rows = np.arange(len(records.numbers))
    if len(rows) and records.field(4, rows[:1])[0].as_py().strip().lower() in {"gender", "sex"}:
        logger.info("%s: skipping the header line", path)
        rows = rows[1:]
    if not len(rows) and not reader.stats.skipped_bad_lines:
        raise CorpusFormatError(path, "no records: is this a collated corpus file (7 fields separated by '+++$+++')?")
    return records, rows, reader.genders(str(path), records.numbers[rows], records.field(4, rows))


def read_corpus(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = None,
    skip_bad_lines: bool = False,
    encoding: str = "latin-1",
    context_size: int = DEFAULT_CONTEXT_SIZE,
    include_unknown: bool = False,
) -> tuple[datasets.Dataset, CorpusStats]:
    """Like :func:`load_cornell`, but also returns the :class:`CorpusStats` of what was kept and skipped."""
    table, stats = read_corpus_table(
        source,
        sha256=sha256,
        skip_bad_lines=skip_bad_lines,
        encoding=encoding,
        context_size=context_size,
        include_unknown=include_unknown,
    )
    return corpus_dataset(table), stats


def read_corpus_table(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = None,
    skip_bad_lines: bool = False,
    encoding: str = "latin-1",
    context_size: int = DEFAULT_CONTEXT_SIZE,
    include_unknown: bool = False,
) -> tuple[pa.Table, CorpusStats]:
    """Like :func:`read_corpus`, but the Arrow table (schema ``FEATURES.arrow_schema``) instead of a Dataset of it,
    for callers that make their own Datasets of it (:func:`movie_gender.build_dataset`: one per split)."""
    if isinstance(context_size, bool) or not isinstance(context_size, (int, np.integer)) or context_size < 0:
        raise ValueError(f"context_size must be an integer >= 0, got {context_size!r}")
    stats = CorpusStats(
        source=public_source(source),  # published: no local path
        context_size=int(context_size),
        include_unknown=include_unknown,
    )
    reader = _Reader(stats, skip_bad_lines)
    path = fetch(source, sha256=sha256)
    if path.is_dir():
        files = _read_from_folder(path)
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        files = _read_from_zip(path)
    else:
        files = None
    listed = None
    if files is not None:
        (lines_name, lines_data), (characters_name, characters_data), conversations_file = files
        characters = reader.records(characters_name, characters_data, 6, encoding)
        records = reader.records(lines_name, lines_data, 5, encoding)
        if not len(records.numbers):
            raise CorpusFormatError(lines_name, "no dialogue lines found")
        if conversations_file is not None:
            listed = _read_conversations(*conversations_file, reader, encoding)
        rows = np.arange(len(records.numbers))
        gender, speaker = _join_genders(records, characters, (lines_name, characters_name), reader)
        fields = LINES_FIELDS
    else:
        records, rows, gender = _read_collated(path, reader, encoding)
        speaker, fields = None, COLLATED_FIELDS
    stats.lines_read = len(rows)
    columns, labels = _assemble(
        records, rows, fields, gender, speaker, reader, listed, int(context_size), include_unknown
    )

    if stats.skipped_bad_lines:
        logger.warning(
            "Skipped %d malformed lines, e.g. %s", stats.skipped_bad_lines, "; ".join(stats.skipped_examples[:3])
        )
    if not (labels >= 0).any() and not (include_unknown and len(labels)):
        raise CorpusFormatError(path, "no lines of known gender (m/f) after joining")
    table = pa.table({**columns, "label": pa.array(labels, pa.int64())}, schema=FEATURES.arrow_schema)
    stats.female = int((labels == 1).sum())
    stats.male = int((labels == 0).sum())
    stats.movies = len(pc.unique(table.column("movie_id")))
    stats.characters = len(pc.unique(table.column("character_id")))
    logger.info(
        "Read %s lines from %s: %s male, %s female, %s of unknown gender (%s), %s movies, %s characters. "
        "The full official corpus gives %s lines: %s male / %s female / %s unknown.",
        f"{stats.lines_read:,}",
        source,
        f"{stats.male:,}",
        f"{stats.female:,}",
        f"{stats.unknown_gender:,}",
        "kept, label -1" if include_unknown else "dropped",
        stats.movies,
        f"{stats.characters:,}",
        *(f"{FULL_CORPUS[k]:,}" for k in ("lines", "male", "female", "unknown")),
    )
    outside = (
        f"; {stats.lines_outside_conversations:,} lines it does not list are conversations of their own"
        if stats.lines_outside_conversations
        else ""
    )
    context = (
        f"up to {context_size} lines of other speakers before and {context_size} after each line"
        if context_size
        else "off (context_size 0)"
    )
    logger.info(
        "Conversations from %s: %s conversations%s; context: %s",
        stats.conversations_source,
        f"{stats.conversations:,}",
        outside,
        context,
    )
    return table, stats


def load_cornell(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = None,
    skip_bad_lines: bool = False,
    encoding: str = "latin-1",
    context_size: int = DEFAULT_CONTEXT_SIZE,
    include_unknown: bool = False,
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
        source,
        sha256=sha256,
        skip_bad_lines=skip_bad_lines,
        encoding=encoding,
        context_size=context_size,
        include_unknown=include_unknown,
    )[0]


CHARACTER_FIELDS = {"character_id": 0, "character_name": 1, "movie_id": 2, "movie_title": 3}


def read_characters(
    source: str | os.PathLike = DEFAULT_URL, *, skip_bad_lines: bool = False, encoding: str = "latin-1"
) -> pa.Table | None:
    """Every character of ``movie_characters_metadata.txt`` (also those who speak no line): ``character_id``,
    ``character_name``, ``movie_id``, ``movie_title`` and ``label`` (0 male, 1 female, -1 unknown), in file order;
    None for the tutorial's collated file, which has no metadata file. Malformed records raise (naming file and
    line) or, with ``skip_bad_lines``, are left out."""
    path = fetch(source)
    if path.is_dir():
        files = _read_from_folder(path)
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        files = _read_from_zip(path)
    else:
        return None
    name, data = files[1]
    reader = _Reader(CorpusStats(source=public_source(source)), skip_bad_lines)
    records = reader.records(name, data, 6, encoding)
    gender = reader.genders(name, records.numbers, records.field(4))
    keep = np.flatnonzero(gender != -2)
    columns = {key: pc.utf8_trim_whitespace(records.field(k, keep)) for key, k in CHARACTER_FIELDS.items()}
    return pa.table({**columns, "label": pa.array(gender[keep], pa.int64())})
