"""Splitting the corpus files into records: a numpy scanner for regular files, a line-by-line reader for the rest.

The upstream files are records of fields separated by ``" +++$+++ "``, one per ``\\n``-ended line.
:func:`split_regular` finds them in a well-formed file without making a Python object per line;
:class:`RecordReader` decodes a file, uses the scanner where it can, and otherwise splits it line by line, raising on
(or counting, in :class:`CorpusStats`) every malformed line.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movie_gender.configuration import DEFAULT_CONTEXT_SIZE
from movie_gender.errors import CorpusFormatError

SEPARATOR = " +++$+++ "


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
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_SEPARATOR_HEAD = int.from_bytes(SEPARATOR.rstrip().encode(), "little")  # " +++$+++" as one 8-byte word


class _Inline(Executor):
    """Runs each call at once, in the calling thread: with one core a thread pool only adds hand-offs (~10 ms a
    read of the full corpus on a busy machine)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def map(
        self, fn: Callable[..., Any], *iterables: Iterable, timeout: float | None = None, chunksize: int = 1
    ) -> Iterator:
        return map(fn, *iterables)


def thread_pool(tasks: int | None = None) -> Executor:
    """A thread pool for ``tasks`` calls (default: any number) that release the GIL (numpy, Arrow), on as many of the
    cores as they can use; inline when that is one."""
    workers = CPUS if tasks is None else min(tasks, CPUS)
    return ThreadPoolExecutor(max_workers=workers) if workers > 1 else _Inline()


def _scan(data: bytes | mmap.mmap, block: int = 1 << 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    with thread_pool(len(starts)) as pool:
        parts = zip(*pool.map(scan_block, starts), strict=False)
        newlines, separators, space_before, space_after = (np.concatenate(part) for part in parts)
    return newlines, separators, space_before, space_after


# Bytes that may be (part of) whitespace: ASCII whitespace and separators, and the bytes of non-ASCII characters.
_MAYBE_SPACE = np.zeros(256, bool)
_MAYBE_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_MAYBE_SPACE[0x80:] = True


def split_regular(data: bytes | mmap.mmap, n_fields: int) -> Records | None:
    """The records of a regular UTF-8 file, found with numpy, or None if the file is not regular.

    Regular: under 2 GiB, no ``\\r``, no blank line, no two separators sharing a space, and exactly ``n_fields - 1``
    separators on every line (the last one may have lost its trailing space). That is every upstream file; anything
    else (including every malformed line) goes through :meth:`RecordReader.split_general`, which gives the same fields
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
        with thread_pool(len(fields)) as pool:
            return dict(zip(fields, pool.map(lambda k: self.field(k, rows), fields.values()), strict=False))


class RecordReader:
    """Splits the upstream files into records, raising on bad lines or counting them in ``stats``."""

    def __init__(self, stats: CorpusStats, skip_bad_lines: bool) -> None:
        self.stats = stats
        self.skip_bad_lines = skip_bad_lines

    def bad(self, name: str, line: int, message: str) -> None:
        """Raise on the bad line ``line`` of file ``name``, or count it (and keep the first ten as examples)."""
        if not self.skip_bad_lines:
            raise CorpusFormatError(
                name, message + " (pass skip_bad_lines=True / --skip-bad-lines to skip such lines)", line
            )
        self.stats.skipped_bad_lines += 1
        if len(self.stats.skipped_examples) < 10:
            self.stats.skipped_examples.append(f"{name}:{line}: {message}")

    def records(self, name: str, data: bytes | mmap.mmap, n_fields: int, encoding: str) -> Records:
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
        blank = to_numpy(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(lines)), 0))
        self.stats.blank_lines += int(blank.sum())
        # An empty last field whose trailing space was stripped: put the space back so the split finds it.
        lines = pc.if_else(pc.ends_with(lines, SEPARATOR.rstrip()), pc.binary_join_element_wise(lines, " ", ""), lines)
        split = pc.split_pattern(lines, SEPARATOR, max_splits=n_fields - 1)
        counts = to_numpy(pc.list_value_length(split))
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
    def check_not_utf8(name: str, data: bytes | mmap.mmap) -> None:
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
            out[to_numpy(pc.equal(keys, code))] = value
        for row in np.flatnonzero(out == -2):
            self.bad(name, int(numbers[row]), f"unknown gender code {codes[row].as_py()!r} (expected m, M, f, F or ?)")
        return out


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean or integer Arrow array as numpy (nulls as False / 0)."""
    if pa.types.is_boolean(array.type):
        array = pc.fill_null(array, False)
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _is_ascii(data: bytes | mmap.mmap) -> bool:
    """Whether every byte is below 0x80."""
    if isinstance(data, bytes):
        return data.isascii()
    return len(data) == 0 or int(np.frombuffer(data, np.uint8).max()) < 0x80


def trim(array: pa.Array, trimmed: bool) -> pa.Array:
    """``array`` with leading and trailing whitespace stripped, unless it is ``trimmed`` already."""
    return array if trimmed else pc.utf8_trim_whitespace(array)
