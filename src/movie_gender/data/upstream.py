"""The readers of each upstream file of the corpus: finding them in a zip or a folder, movie_conversations.txt,
the join of movie_lines.txt with movie_characters_metadata.txt, and the tutorial's collated file."""

from __future__ import annotations

import logging
import mmap
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movie_gender.data.conversations import Conversations, from_lists
from movie_gender.data.corpus_records import RecordReader, Records, to_numpy, trim
from movie_gender.errors import CorpusFormatError

logger = logging.getLogger(__name__)

LINES_FILE = "movie_lines.txt"
CHARACTERS_FILE = "movie_characters_metadata.txt"
CONVERSATIONS_FILE = "movie_conversations.txt"
LINES_FIELDS = {"line_id": 0, "character_id": 1, "movie_id": 2, "character_name": 3, "text": 4}
COLLATED_FIELDS = {"line_id": 0, "character_id": 1, "movie_id": 2, "character_name": 3, "text": 5}
CHARACTER_FIELDS = {"character_id": 0, "character_name": 1, "movie_id": 2, "movie_title": 3}


# A file's name (for errors) and its bytes: read from a zip, or memory-mapped from a folder (:func:`_map_file`).
NamedData = tuple[str, bytes | mmap.mmap]


class UpstreamFiles(NamedTuple):
    """(name, bytes) of movie_lines.txt, movie_characters_metadata.txt and movie_conversations.txt (None if absent)."""

    lines: NamedData
    characters: NamedData
    conversations: NamedData | None


def upstream_files(path: Path) -> UpstreamFiles | None:
    """(name, bytes) of movie_lines.txt, movie_characters_metadata.txt and movie_conversations.txt (None if absent)
    of a zip or an extracted folder; None for any other file (the tutorial's collated file)."""
    if path.is_dir():
        return read_from_folder(path)
    if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        return read_from_zip(path)
    return None


def _find_member(names: list[str], wanted: str) -> str | None:
    candidates = [n for n in names if n.rsplit("/", 1)[-1] == wanted and not n.startswith("__MACOSX")]
    return min(candidates, key=len) if candidates else None


def _required(found: NamedData | None, path: Path, problem: str) -> NamedData:
    """``found``, or a :class:`CorpusFormatError` naming ``path`` and ``problem`` when the file is absent."""
    if found is None:
        raise CorpusFormatError(path, problem)
    return found


def _zip_member(archive: zipfile.ZipFile, path: Path, names: list[str], wanted: str) -> NamedData | None:
    """(name, bytes) of the member ``wanted`` of the zip at ``path``; None if the zip holds none."""
    member = _find_member(names, wanted)
    if member is None:
        return None
    try:
        return f"{path}!{member}", archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CorpusFormatError(path, f"cannot read {member} from the zip ({error})") from None


def read_from_zip(path: Path) -> UpstreamFiles:
    """(name, bytes) of movie_lines.txt, movie_characters_metadata.txt and movie_conversations.txt (None if absent)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CorpusFormatError(path, f"not a readable zip file ({error}); is the download truncated?") from None
    with archive:
        names = archive.namelist()
        lines, characters = (
            _required(
                _zip_member(archive, path, names, wanted),
                path,
                f"the zip holds no {wanted} (expected the 'cornell movie-dialogs corpus/' folder)",
            )
            for wanted in (LINES_FILE, CHARACTERS_FILE)
        )
        return UpstreamFiles(lines, characters, _zip_member(archive, path, names, CONVERSATIONS_FILE))


def _folder_file(path: Path, wanted: str) -> NamedData | None:
    """(name, bytes) of the first file named ``wanted`` under the folder ``path``; None if it holds none."""
    matches = sorted(p for p in path.rglob(wanted) if "__MACOSX" not in p.parts)
    return (str(matches[0]), _map_file(matches[0])) if matches else None


def read_from_folder(path: Path) -> UpstreamFiles:
    """Like :func:`read_from_zip`, for an extracted folder."""
    lines = _required(_folder_file(path, LINES_FILE), path, f"the folder holds no {LINES_FILE}")
    characters = _required(_folder_file(path, CHARACTERS_FILE), path, f"the folder holds no {CHARACTERS_FILE}")
    return UpstreamFiles(lines, characters, _folder_file(path, CONVERSATIONS_FILE))


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
class Listed:
    """The well-formed conversations of movie_conversations.txt: the line ids of all of them, flattened in order,
    the conversation (0, 1, ...) of each id, and per conversation its movie and the line of the file it came from."""

    name: str
    ids: pa.Array
    conversation: np.ndarray
    movie: pa.Array
    numbers: np.ndarray

    def without(self, conversations: np.ndarray) -> Listed:
        """The same, minus some conversations (numbered as before)."""
        keep = ~np.isin(self.conversation, conversations)
        return Listed(self.name, self.ids.filter(pa.array(keep)), self.conversation[keep], self.movie, self.numbers)


# ['L194', 'L195', 'L196']: one or more quoted ids (no quote, bracket, comma or space inside), comma-separated.
_ID_LIST = r"^\[\s*'[^'\[\],\s]+'(\s*,\s*'[^'\[\],\s]+')*\s*\]$"


def read_conversations(name: str, data: bytes | mmap.mmap, reader: RecordReader, encoding: str) -> Listed:
    """movie_conversations.txt (``u0 +++$+++ u2 +++$+++ m0 +++$+++ ['L194', 'L195']``): a malformed list of ids, or
    an id that an earlier conversation already holds, is a bad line (raised, or counted and skipped)."""
    records = reader.records(name, data, 4, encoding)
    lists = pc.utf8_trim_whitespace(records.field(3))
    well_formed = to_numpy(pc.match_substring_regex(lists, _ID_LIST))
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
    listed = Listed(name, ids, conversation, movie, records.numbers[rows])
    codes = np.asarray(pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False))
    _, first = np.unique(codes, return_index=True)
    repeated = np.flatnonzero(first[codes] != np.arange(len(codes)))
    if len(repeated):
        bad: dict[int, np.intp] = {}
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


def listed_conversations(listed: Listed, line_id: pa.Array, movie: pa.Array, reader: RecordReader) -> Conversations:
    """Conversations from movie_conversations.txt; one that lists a line of another movie is a bad line."""
    position = to_numpy(pc.fill_null(pc.index_in(line_id, value_set=listed.ids), -1))
    found = np.flatnonzero(position >= 0)
    conversation = listed.conversation[position[found]]
    mismatch = to_numpy(pc.not_equal(movie.take(pa.array(found)), listed.movie.take(pa.array(conversation))))
    if mismatch.any():
        bad: dict[int, int] = {}
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


def join_genders(
    lines: Records, characters: Records, names: tuple[str, str], reader: RecordReader
) -> tuple[np.ndarray, np.ndarray]:
    """movie_lines x movie_characters_metadata on the character id (vectorised with Arrow): the gender of each line
    (0, 1, -1 for ?, -2 for a bad line, reported) and its speaker (the character's row in the metadata)."""
    lines_name, characters_name = names
    char_gender = reader.genders(characters_name, characters.numbers, characters.field(4))
    valid = char_gender != -2  # a character whose metadata line was bad (already reported) has no entry
    char_ids = pc.utf8_trim_whitespace(characters.field(0)).filter(pa.array(valid))
    char_gender = char_gender[valid]
    character_id = trim(lines.field(1), lines.trimmed)
    position = to_numpy(pc.fill_null(pc.index_in(character_id, value_set=char_ids), -1))
    for row in np.flatnonzero(position < 0):
        reader.bad(
            lines_name,
            int(lines.numbers[row]),
            f"character {character_id[row].as_py()!r} has no valid entry in {CHARACTERS_FILE}",
        )
    return np.where(position >= 0, char_gender[np.maximum(position, 0)], -2), position


def read_collated(path: Path, reader: RecordReader, encoding: str) -> tuple[Records, np.ndarray, np.ndarray]:
    """The records of the tutorial's collated 7-field file, the rows that are lines (not the header), their gender."""
    records = reader.records(str(path), path.read_bytes(), 7, encoding)
    rows = np.arange(len(records.numbers))
    if len(rows) and records.field(4, rows[:1])[0].as_py().strip().lower() in {"gender", "sex"}:
        logger.info("%s: skipping the header line", path)
        rows = rows[1:]
    if not len(rows) and not reader.stats.skipped_bad_lines:
        raise CorpusFormatError(path, "no records: is this a collated corpus file (7 fields separated by '+++$+++')?")
    return records, rows, reader.genders(str(path), records.numbers[rows], records.field(4, rows))
