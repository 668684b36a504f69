"""Reading the Cornell Movie-Dialogs Corpus in its upstream formats and joining lines with character gender.

Sources: the official zip URL (default), any http(s)/file URL of such a zip, a local zip, an extracted corpus
folder, or the tutorial's collated 7-field file. The files are ISO-8859-1 and records are split on ``\\n`` only
(``\\x85`` occurs inside text, and ``str.splitlines`` would break on it).
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .download import fetch
from .errors import CorpusFormatError

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
SEPARATOR = " +++$+++ "
LINES_FILE = "movie_lines.txt"
CHARACTERS_FILE = "movie_characters_metadata.txt"
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

    def to_dict(self) -> dict:
        return asdict(self)


class _Reader:
    """Splits one upstream file into records, raising or counting bad lines."""

    def __init__(self, stats: CorpusStats, skip_bad_lines: bool) -> None:
        self.stats = stats
        self.skip_bad_lines = skip_bad_lines

    def bad(self, name: str, line: int, message: str) -> None:
        if not self.skip_bad_lines:
            raise CorpusFormatError(name, message + " (pass skip_bad_lines=True / --skip-bad-lines to skip such lines)", line)
        self.stats.skipped_bad_lines += 1
        if len(self.stats.skipped_examples) < 10:
            self.stats.skipped_examples.append(f"{name}:{line}: {message}")

    def records(self, name: str, data: bytes, n_fields: int, encoding: str) -> tuple[np.ndarray, list[pa.Array]]:
        """(1-based line numbers, one Arrow string array per field) of the well-formed records, split in C."""
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise CorpusFormatError(name, f"cannot decode as {encoding}: {error.reason}", line) from None
        if encoding.lower().replace("-", "").replace("_", "") in {"latin1", "iso88591"} and not data.isascii():
            self.check_not_utf8(name, data)
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
            self.bad(name, int(row) + 1, f"expected {n_fields} fields separated by {SEPARATOR.strip()!r}, found {counts[row]}")
        keep = ~blank & (counts == n_fields)
        split = split.filter(pa.array(keep))
        return np.flatnonzero(keep) + 1, [pc.list_element(split, i) for i in range(n_fields)]

    @staticmethod
    def check_not_utf8(name: str, data: bytes) -> None:
        """Upstream files are ISO-8859-1; one that decodes cleanly as UTF-8 with multi-byte characters is not."""
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            return
        if len(decoded) < len(data):
            line = data[: next(i for i, b in enumerate(data) if b >= 0x80)].count(b"\n") + 1
            raise CorpusFormatError(name, "the file is UTF-8, not ISO-8859-1 like the upstream corpus; re-save it as "
                                          "ISO-8859-1 or pass encoding='utf-8' (--encoding utf-8)", line)

    def genders(self, name: str, numbers: np.ndarray, codes: pa.Array) -> np.ndarray:
        """0 (m), 1 (f), -1 (?) per record; -2 for a bad code, after raising or counting it."""
        keys = pc.utf8_lower(pc.utf8_trim_whitespace(codes))
        out = np.full(len(keys), -2, dtype=np.int64)
        for code, value in (("m", 0), ("f", 1), ("?", -1)):
            out[_numpy(pc.equal(keys, code))] = value
        for row in np.flatnonzero(out == -2):
            self.bad(name, int(numbers[row]), f"unknown gender code {codes[row].as_py()!r} (expected m, M, f, F or ?)")
        return out


def _numpy(array) -> np.ndarray:
    """A boolean or integer Arrow array as numpy (nulls as False / 0)."""
    if pa.types.is_boolean(array.type):
        array = pc.fill_null(array, False)
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _find_member(names: list[str], wanted: str) -> str | None:
    candidates = [n for n in names if n.rsplit("/", 1)[-1] == wanted and not n.startswith("__MACOSX")]
    return min(candidates, key=len) if candidates else None


def _read_pair_from_zip(path: Path) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CorpusFormatError(path, f"not a readable zip file ({error}); is the download truncated?") from None
    with archive:
        names = archive.namelist()
        found = []
        for wanted in (LINES_FILE, CHARACTERS_FILE):
            member = _find_member(names, wanted)
            if member is None:
                raise CorpusFormatError(path, f"the zip holds no {wanted} (expected the 'cornell movie-dialogs corpus/' folder)")
            try:
                found.append((f"{path}!{member}", archive.read(member)))
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise CorpusFormatError(path, f"cannot read {member} from the zip ({error})") from None
        return found[0], found[1]


def _read_pair_from_folder(path: Path) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    found = []
    for wanted in (LINES_FILE, CHARACTERS_FILE):
        matches = sorted(p for p in path.rglob(wanted) if "__MACOSX" not in p.parts)
        if not matches:
            raise CorpusFormatError(path, f"the folder holds no {wanted}")
        found.append((str(matches[0]), matches[0].read_bytes()))
    return found[0], found[1]


def _to_dataset(columns: dict[str, pa.Array], labels: np.ndarray) -> datasets.Dataset:
    arrays = {**{k: pc.utf8_trim_whitespace(v) if k != "text" else v for k, v in columns.items()},
              "label": pa.array(labels, pa.int64())}
    table = pa.table(arrays, schema=FEATURES.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=FEATURES))


def _keep_known(columns: dict[str, pa.Array], gender: np.ndarray, stats: CorpusStats) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Drop the lines of unknown (?) or bad gender; count the unknown ones."""
    stats.unknown_gender += int((gender == -1).sum())
    keep = gender >= 0
    mask = pa.array(keep)
    return {k: v.filter(mask) for k, v in columns.items()}, gender[keep]


def _join(lines, characters, names: tuple[str, str], reader: _Reader):
    """movie_lines x movie_characters_metadata on the character id (vectorised with Arrow)."""
    lines_name, characters_name = names
    (char_numbers, char_fields), (line_numbers, line_fields) = characters, lines
    char_gender = reader.genders(characters_name, char_numbers, char_fields[4])
    valid = char_gender != -2  # a character whose metadata line was bad (already reported) has no entry
    char_ids = pc.utf8_trim_whitespace(char_fields[0]).filter(pa.array(valid))
    char_gender = char_gender[valid]
    character_id = pc.utf8_trim_whitespace(line_fields[1])
    position = _numpy(pc.fill_null(pc.index_in(character_id, value_set=char_ids), -1))
    for row in np.flatnonzero(position < 0):
        reader.bad(lines_name, int(line_numbers[row]),
                   f"character {character_id[row].as_py()!r} has no valid entry in {CHARACTERS_FILE}")
    gender = np.where(position >= 0, char_gender[np.maximum(position, 0)], -2)
    columns = {"line_id": line_fields[0], "movie_id": line_fields[2], "character_id": character_id,
               "character_name": line_fields[3], "text": line_fields[4]}
    return _keep_known(columns, gender, reader.stats)


def _read_collated(path: Path, reader: _Reader, encoding: str):
    numbers, fields = reader.records(str(path), path.read_bytes(), 7, encoding)
    if len(numbers) and fields[4][0].as_py().strip().lower() in {"gender", "sex"}:
        logger.info("%s: skipping the header line", path)
        numbers, fields = numbers[1:], [f[1:] for f in fields]
    if not len(numbers) and not reader.stats.skipped_bad_lines:
        raise CorpusFormatError(path, "no records: is this a collated corpus file (7 fields separated by '+++$+++')?")
    gender = reader.genders(str(path), numbers, fields[4])
    columns = {"line_id": fields[0], "movie_id": fields[2], "character_id": fields[1], "character_name": fields[3],
               "text": fields[5]}
    columns, gender = _keep_known(columns, gender, reader.stats)
    return columns, gender, len(numbers)


def read_corpus(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = None,
    skip_bad_lines: bool = False,
    encoding: str = "latin-1",
) -> tuple[datasets.Dataset, CorpusStats]:
    """Like :func:`load_cornell`, but also returns the :class:`CorpusStats` of what was kept and skipped."""
    stats = CorpusStats(source=str(source))
    reader = _Reader(stats, skip_bad_lines)
    path = fetch(source, sha256=sha256)
    if path.is_dir():
        pair = _read_pair_from_folder(path)
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        pair = _read_pair_from_zip(path)
    else:
        pair = None
    if pair is not None:
        (lines_name, lines_data), (characters_name, characters_data) = pair
        characters = reader.records(characters_name, characters_data, 6, encoding)
        lines = reader.records(lines_name, lines_data, 5, encoding)
        if not len(lines[0]):
            raise CorpusFormatError(lines_name, "no dialogue lines found")
        stats.lines_read = len(lines[0])
        columns, labels = _join(lines, characters, (lines_name, characters_name), reader)
    else:
        columns, labels, stats.lines_read = _read_collated(path, reader, encoding)

    stats.female = int(labels.sum())
    stats.male = len(labels) - stats.female
    stats.movies = len(pc.unique(pc.utf8_trim_whitespace(columns["movie_id"])))
    stats.characters = len(pc.unique(columns["character_id"]))
    logger.info(
        "Read %s lines from %s: %s male, %s female, %s of unknown gender (dropped), %s movies, %s characters. "
        "The full official corpus gives %s lines: %s male / %s female / %s unknown.",
        f"{stats.lines_read:,}", source, f"{stats.male:,}", f"{stats.female:,}", f"{stats.unknown_gender:,}",
        stats.movies, f"{stats.characters:,}",
        *(f"{FULL_CORPUS[k]:,}" for k in ("lines", "male", "female", "unknown")),
    )
    if stats.skipped_bad_lines:
        logger.warning("Skipped %d malformed lines, e.g. %s", stats.skipped_bad_lines, "; ".join(stats.skipped_examples[:3]))
    if not len(labels):
        raise CorpusFormatError(path, "no lines of known gender (m/f) after joining")
    return _to_dataset(columns, labels), stats


def load_cornell(
    source: str | os.PathLike = DEFAULT_URL,
    *,
    sha256: str | None = None,
    skip_bad_lines: bool = False,
    encoding: str = "latin-1",
) -> datasets.Dataset:
    """Load the corpus as a Dataset of lines spoken by characters of known gender.

    Args:
        source: the official zip URL (default), an http(s)/file URL, a local zip, an extracted folder, or the
            tutorial's collated 7-field file. Downloads are cached (see :func:`movie_gender.download.cache_dir`).
        sha256: optional checksum of the zip or file.
        skip_bad_lines: count and skip malformed lines (reported in the log) instead of raising.
        encoding: text encoding of the files (upstream: ISO-8859-1).

    Returns:
        Columns line_id, movie_id, character_id, character_name, text, label (ClassLabel male=0, female=1), in
        corpus order. Lines whose character's gender is ``?`` are dropped (and counted in the log).

    Raises:
        CorpusFormatError: naming the file and line of the first malformed record.
        DownloadError: when a URL cannot be fetched.
    """
    return read_corpus(source, sha256=sha256, skip_bad_lines=skip_bad_lines, encoding=encoding)[0]
