"""Conversations and context: which exchange each line belongs to, and the lines of the other speakers around it.

Everything here works on whole arrays (numpy / Arrow), never line by line: conversations and context positions of
304,713 lines take about 20 ms of CPU, copying the ~0.9 million context strings out about 25 ms more. The lines are
the ones that take part in conversations (every line of a character the metadata knows, whatever its gender), so
the context of a line of known gender can hold lines of characters of unknown gender.

Two sources of conversations:

- ``movie_conversations.txt`` (official zip): the line ids of each exchange in order. A line it does not list is a
  conversation of its own.
- line-id adjacency (the sample zip, the tutorial's collated file, partial corpora): lines of the same movie whose
  numeric ids are consecutive belong to one exchange. In the official corpus two exchanges can follow each other
  without a gap in the ids (``L194``-``L197`` and ``L198``-``L199`` of ``m0``), so a derived exchange can be two
  official ones back to back; its neighbouring lines are still the neighbouring lines of the script.

Context: up to ``K`` lines spoken by other characters just before the line and up to ``K`` just after it, within its
conversation, in the order spoken (the ``K`` before first). Lines of the speaker's own are skipped, not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SOURCE_FILE = "movie_conversations.txt"
SOURCE_ADJACENCY = "line-id adjacency"


def line_numbers(line_ids: pa.Array) -> np.ndarray:
    """The numeric part of each line id (``L1045`` -> 1045); -1 where an id has no number."""
    try:  # the upstream ids: one letter, then digits
        if pc.all(pc.starts_with(line_ids, "L")).as_py() is not False:
            return np.asarray(pc.cast(pc.utf8_slice_codeunits(line_ids, 1), pa.int64()).to_numpy(zero_copy_only=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    digits = pc.struct_field(pc.extract_regex(line_ids, r"^\D*(?P<n>\d{1,18})\s*$"), [0])
    return np.asarray(pc.fill_null(pc.cast(digits, pa.int64()), -1).to_numpy(zero_copy_only=False))


def _codes(values: pa.Array) -> np.ndarray:
    """Dense integer codes of the distinct values, in order of first appearance."""
    return np.asarray(pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _sort_by(key: np.ndarray) -> np.ndarray:
    """The stable order that sorts ``key``; no sort at all when the key is sorted already (the usual case)."""
    if len(key) < 2 or (key[1:] >= key[:-1]).all():
        return np.arange(len(key))
    return np.argsort(key, kind="stable")


@dataclass
class Conversations:
    """Lines grouped into conversations.

    ``order``: the line positions sorted by conversation, then by turn. ``conversation``: the conversation number of
    each position of ``order`` (0, 1, ... in that order). ``source``: which of the two sources made them.
    """

    order: np.ndarray
    conversation: np.ndarray
    source: str
    outside: int = 0  # lines that movie_conversations.txt does not list (each a conversation of its own)

    @property
    def count(self) -> int:
        """The number of conversations."""
        return int(self.conversation[-1]) + 1 if len(self.conversation) else 0

    @cached_property
    def identity(self) -> bool:
        """Whether the lines are in conversation order already."""
        return bool((self.order == np.arange(len(self.order))).all())

    def sorted_positions(self, lines: np.ndarray) -> np.ndarray:
        """Where the lines at positions ``lines`` sit in ``order``."""
        if self.identity:
            return lines
        return self._inverse[lines]

    @cached_property
    def _inverse(self) -> np.ndarray:
        inverse = np.empty(len(self.order), dtype=np.int64)
        inverse[self.order] = np.arange(len(self.order))
        return inverse

    def original(self, positions: np.ndarray) -> np.ndarray:
        """The line positions of positions of ``order``."""
        return positions if self.identity else self.order[positions]

    def rows(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the lines at positions ``lines``: their conversation numbers and turns (0, 1, ...), and the line that
        opens each conversation (one per conversation number)."""
        first = np.ones(len(self.order), dtype=bool)
        np.not_equal(self.conversation[1:], self.conversation[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        sorted_position = self.sorted_positions(lines)
        conversation = self.conversation[sorted_position]
        return conversation, sorted_position - starts[conversation], self.original(starts)


def _reverse_descending_runs(numbers: np.ndarray) -> np.ndarray:
    """The order that reverses every run of decreasing numbers (movie_lines.txt lists each movie newest first)."""
    new = np.ones(len(numbers), dtype=bool)
    np.greater_equal(numbers[1:], numbers[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(numbers))
    run = np.cumsum(new) - 1
    return starts[run] + ends[run] - 1 - np.arange(len(numbers))


def by_adjacency(movie: pa.Array, numbers: np.ndarray) -> Conversations:
    """Conversations from line-id adjacency: same movie, consecutive numeric ids. An id without a number is a
    conversation of its own."""
    n = len(numbers)
    order = np.arange(n)
    if n > 1 and not (numbers[1:] > numbers[:-1]).all():
        order = _reverse_descending_runs(numbers)
    sorted_numbers = numbers[order]
    if n > 1 and not (sorted_numbers[1:] > sorted_numbers[:-1]).all():
        # Not one increasing sequence of distinct ids in either reading: sort by movie, then number.
        movie_code = _codes(movie)
        order = np.argsort(movie_code * (1 << 40) + np.maximum(numbers, 0), kind="stable")
        sorted_numbers = numbers[order]
    sorted_movie = movie if n < 2 or (order[1:] > order[:-1]).all() else movie.take(pa.array(order))
    new = np.ones(n, dtype=bool)
    if n > 1:
        new[1:] = ~_bool(pc.equal(sorted_movie.slice(1), sorted_movie.slice(0, n - 1)))
        new[1:] |= sorted_numbers[1:] != sorted_numbers[:-1] + 1
        new[1:] |= (sorted_numbers[:-1] < 0) | (sorted_numbers[1:] < 0)
    return Conversations(order, np.cumsum(new) - 1, SOURCE_ADJACENCY)


def _bool(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False))


def from_lists(line_ids: pa.Array, listed_ids: pa.Array, listed_conversation: np.ndarray) -> Conversations:
    """Conversations from ``movie_conversations.txt``: ``listed_ids`` are its line ids flattened, conversation after
    conversation, each in the order spoken; ``listed_conversation`` the conversation of each. A line it does not list
    is a conversation of its own, after the listed ones."""
    position = np.asarray(pc.fill_null(pc.index_in(line_ids, value_set=listed_ids), -1).to_numpy(zero_copy_only=False))
    listed = position >= 0
    n_listed = int(listed_conversation.max()) + 1 if len(listed_conversation) else 0
    conversation = np.where(listed, listed_conversation[np.maximum(position, 0)], n_listed + np.cumsum(~listed) - 1)
    key = conversation * (1 << 32) + np.where(listed, position, 0)
    order = _sort_by(key)
    sorted_conversation = conversation[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_conversation[1:] != sorted_conversation[:-1]
    return Conversations(order, np.cumsum(new) - 1, SOURCE_FILE, outside=int((~listed).sum()))


def context_positions(conversations: Conversations, speaker: np.ndarray, lines: np.ndarray, size: int) -> np.ndarray:
    """``[len(lines), 2 * size]`` line positions (-1: none) of the context of the lines at positions ``lines``: the
    ``size`` nearest lines of other speakers before each line, then the ``size`` nearest after it, in the order spoken.

    Consecutive lines of one speaker (a run) share their context, so it is found once per run, walking over whole
    runs: with two speakers, ``size`` lines on each side are reached within ``2 * size`` runs.
    """
    if size == 0 or not len(lines):
        return np.full((len(lines), 2 * size), -1, dtype=np.int64)
    order, conversation = conversations.order, conversations.conversation
    who = speaker if conversations.identity else speaker[order]
    new_run = np.empty(len(order), dtype=bool)
    new_run[0] = True
    np.not_equal(conversation[1:], conversation[:-1], out=new_run[1:])
    new_run[1:] |= who[1:] != who[:-1]
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], len(order))
    run_of_position = np.cumsum(new_run) - 1
    run_speaker, run_conversation = who[run_start], conversation[run_start]
    n_runs = len(run_start)
    first = np.ones(n_runs, dtype=bool)
    first[1:] = run_conversation[1:] != run_conversation[:-1]
    first_index = np.flatnonzero(first)
    first_run = first_index[run_conversation]
    last_run = np.append(first_index[1:], n_runs)[run_conversation] - 1

    runs = run_of_position[conversations.sorted_positions(lines)]
    wanted = np.zeros(n_runs, dtype=bool)
    wanted[runs] = True  # only the runs of the requested lines
    wanted = np.flatnonzero(wanted)
    table = np.full((n_runs, 2 * size), -1, dtype=np.int64)  # per run: the size before, then the size after
    for step in (-1, 1):
        pending, need, distance = wanted, np.full(len(wanted), size), 1
        while len(pending):
            candidate = pending + step * distance
            inside = candidate >= first_run[pending] if step < 0 else candidate <= last_run[pending]
            pending, need, candidate = pending[inside], need[inside], candidate[inside]
            other = run_speaker[candidate] != run_speaker[pending]
            taken = np.where(other, np.minimum(need, run_end[candidate] - run_start[candidate]), 0)
            for t in range(size):
                fill = t < taken
                rows, got = pending[fill], taken[fill]
                if step < 0:  # the nearest lines fill the last slots; farther runs fill the slots before them
                    table[rows, need[fill] - got + t] = run_end[candidate[fill]] - got + t
                else:
                    table[rows, 2 * size - need[fill] + t] = run_start[candidate[fill]] + t
            need = need - taken
            pending, need = pending[need > 0], need[need > 0]
            distance += 1
    if not conversations.identity:
        table = np.where(table >= 0, order[np.maximum(table, 0)], -1)
    return table[runs]


def context_lists(
    positions: np.ndarray,
    texts: Callable[[np.ndarray], pa.Array],
    parts: int = 1,
    mapper: Callable[..., Iterable[pa.Array]] = map,
) -> list[pa.ListArray]:
    """list<string> arrays from :func:`context_positions`, in ``parts`` consecutive pieces; ``texts(rows)`` returns
    the text of the lines at ``rows``, called through ``mapper`` (e.g. a thread pool's ``map``: Arrow's take
    releases the GIL)."""
    present = positions >= 0
    counts = np.zeros(len(positions), dtype=np.int64)
    for column in present.T:  # column by column: ~6x faster than count_nonzero(axis=1) over 2K columns
        counts += column
    bounds = np.linspace(0, len(positions), parts + 1).astype(np.int64)
    pieces = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=False):
        offsets = np.zeros(end - start + 1, dtype=np.int32)
        np.cumsum(counts[start:end], out=offsets[1:])
        pieces.append((offsets, positions[start:end][present[start:end]]))
    values = mapper(texts, [rows for _, rows in pieces])
    return [pa.ListArray.from_arrays(pa.array(offsets), v) for (offsets, _), v in zip(pieces, values, strict=False)]
