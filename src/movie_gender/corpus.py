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
import pyarrow as pa

from .download import fetch
from .errors import CorpusFormatError

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
SEPARATOR = " +++$+++ "
LINES_FILE = "movie_lines.txt"
CHARACTERS_FILE = "movie_characters_metadata.txt"
LABEL_NAMES = ["male", "female"]
GENDER_CODES = {"m": 0, "f": 1, "?": None}
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

    def records(self, name: str, data: bytes, n_fields: int, encoding: str) -> list[tuple[int, list[str]]]:
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
        out = []
        for number, raw in enumerate(pieces, start=1):
            raw = raw.rstrip("\r")
            if not raw.strip():
                self.stats.blank_lines += 1
                continue
            fields = raw.split(SEPARATOR, n_fields - 1)
            if len(fields) == n_fields - 1 and raw.endswith(SEPARATOR.rstrip()):
                fields.append("")  # the trailing space of an empty last field was stripped
            if len(fields) != n_fields:
                self.bad(name, number, f"expected {n_fields} fields separated by {SEPARATOR.strip()!r}, found {len(fields)}")
                continue
            out.append((number, fields))
        return out

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

    def gender(self, name: str, line: int, code: str) -> int | None | bool:
        """0/1 for m/f, None for '?', False for a bad code (after raising or counting it)."""
        key = code.strip().lower()
        if key in GENDER_CODES:
            return GENDER_CODES[key]
        self.bad(name, line, f"unknown gender code {code!r} (expected m, M, f, F or ?)")
        return False


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


def _to_dataset(columns: dict[str, list], labels: list[int]) -> datasets.Dataset:
    arrays = {**{k: pa.array(v, pa.string()) for k, v in columns.items()}, "label": pa.array(labels, pa.int64())}
    table = pa.table(arrays, schema=FEATURES.arrow_schema)
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=FEATURES))


def _join(lines: list[tuple[int, list[str]]], characters: list[tuple[int, list[str]]], names: tuple[str, str], reader: _Reader):
    lines_name, characters_name = names
    gender_of: dict[str, int | None] = {}
    for number, fields in characters:
        gender = reader.gender(characters_name, number, fields[4])
        if gender is not False:
            gender_of[fields[0].strip()] = gender
    columns: dict[str, list] = {"line_id": [], "movie_id": [], "character_id": [], "character_name": [], "text": []}
    labels: list[int] = []
    for number, (line_id, character_id, movie_id, name, text) in lines:
        character_id = character_id.strip()
        if character_id not in gender_of:
            reader.bad(lines_name, number, f"character {character_id!r} is not in {CHARACTERS_FILE}")
            continue
        gender = gender_of[character_id]
        if gender is None:
            reader.stats.unknown_gender += 1
            continue
        columns["line_id"].append(line_id.strip())
        columns["movie_id"].append(movie_id.strip())
        columns["character_id"].append(character_id)
        columns["character_name"].append(name.strip())
        columns["text"].append(text)
        labels.append(gender)
    return columns, labels


def _read_collated(path: Path, reader: _Reader, encoding: str):
    records = reader.records(str(path), path.read_bytes(), 7, encoding)
    if records and records[0][1][4].strip().lower() in {"gender", "sex"}:
        logger.info("%s: skipping the header line", path)
        records = records[1:]
    if not records and not reader.stats.skipped_bad_lines:
        raise CorpusFormatError(path, "no records: is this a collated corpus file (7 fields separated by '+++$+++')?")
    columns: dict[str, list] = {"line_id": [], "movie_id": [], "character_id": [], "character_name": [], "text": []}
    labels: list[int] = []
    for number, (line_id, character_id, movie_id, name, gender_code, text, _credit) in records:
        gender = reader.gender(str(path), number, gender_code)
        if gender is False:
            continue
        if gender is None:
            reader.stats.unknown_gender += 1
            continue
        for key, value in zip(columns, (line_id.strip(), movie_id.strip(), character_id.strip(), name.strip(), text)):
            columns[key].append(value)
        labels.append(gender)
    return columns, labels, len(records)


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
        if not lines:
            raise CorpusFormatError(lines_name, "no dialogue lines found")
        stats.lines_read = len(lines)
        columns, labels = _join(lines, characters, (lines_name, characters_name), reader)
    else:
        columns, labels, stats.lines_read = _read_collated(path, reader, encoding)

    stats.female = sum(labels)
    stats.male = len(labels) - stats.female
    stats.movies = len(set(columns["movie_id"]))
    stats.characters = len(set(columns["character_id"]))
    logger.info(
        "Read %s lines from %s: %s male, %s female, %s of unknown gender (dropped), %s movies, %s characters. "
        "The full official corpus gives %s lines: %s male / %s female / %s unknown.",
        f"{stats.lines_read:,}", source, f"{stats.male:,}", f"{stats.female:,}", f"{stats.unknown_gender:,}",
        stats.movies, f"{stats.characters:,}",
        *(f"{FULL_CORPUS[k]:,}" for k in ("lines", "male", "female", "unknown")),
    )
    if stats.skipped_bad_lines:
        logger.warning("Skipped %d malformed lines, e.g. %s", stats.skipped_bad_lines, "; ".join(stats.skipped_examples[:3]))
    if not labels:
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
