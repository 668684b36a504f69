"""The inputs of a streamed scoring job: Parquet, JSON lines or CSV files (a file, a folder of them, or a glob) read
with ``pyarrow.dataset``, or a Hub dataset id streamed with ``datasets``; each a :class:`Source` read in record
batches from any row on, and cut into parts of a fixed number of rows (:func:`parts_of`)."""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from movie_gender.errors import InputFormatError

if TYPE_CHECKING:
    import pyarrow.dataset as pads


@dataclasses.dataclass(frozen=True)
class InputFormat:
    """One input format, declared once for local and Ray scoring: its file extensions, how ``pyarrow.dataset``
    reads it (:meth:`dataset_format`) and which Ray Data reader reads it (:meth:`ray_read`). In CSV the
    ``text_columns`` are read as text (a column of digits stays text)."""

    name: str
    suffixes: tuple[str, ...]
    ray_reader: str

    def _convert_options(self, text_columns: Sequence[str]) -> Any:
        import pyarrow.csv as pcsv

        return pcsv.ConvertOptions(column_types={column: pa.string() for column in text_columns})

    def dataset_format(self, text_columns: Sequence[str] = ()) -> Any:
        """The ``format`` argument of ``pyarrow.dataset.dataset``."""
        if self.name != "csv":
            return self.name
        import pyarrow.dataset as pads

        return pads.CsvFileFormat(convert_options=self._convert_options(text_columns))

    def ray_read(self, ray: Any, paths: str | list[str], text_columns: Sequence[str] = ()) -> Any:
        """The Ray dataset of ``paths`` (files, or a folder or URI of this format)."""
        kwargs: dict[str, Any] = {}
        if self.name != "parquet":
            kwargs["file_extensions"] = None  # the files were chosen by their extensions already
        if self.name == "csv":
            kwargs["convert_options"] = self._convert_options(text_columns)
        return getattr(ray.data, self.ray_reader)(paths, **kwargs)


INPUT_FORMATS = (
    InputFormat("parquet", (".parquet", ".pq"), "read_parquet"),
    InputFormat("json", (".jsonl", ".ndjson", ".json"), "read_json"),
    InputFormat("csv", (".csv",), "read_csv"),
)
FORMAT_BY_NAME = {fmt.name: fmt for fmt in INPUT_FORMATS}
FORMATS = {suffix: fmt.name for fmt in INPUT_FORMATS for suffix in fmt.suffixes}  # extension -> format name
SCORE_COLUMNS = ("p_female", "predicted_label")
_READ_ROWS = 8192  # rows per record batch read from the input


class Source:
    """A table read in order, batch by batch: a description, a fingerprint (what a resume must match), the schema
    and, where cheap to know, the number of rows."""

    description: str
    local_spec: str | None = None  # the path, folder or glob read (None: a Hub dataset): outputs must avoid it
    fingerprint: dict
    schema: pa.Schema
    num_rows: int | None

    def batches(self, start: int = 0) -> Iterator[pa.RecordBatch]:
        """The record batches from row ``start`` on."""
        raise NotImplementedError


def input_files(spec: str) -> tuple[list[Path], str]:
    """The files of a file path, folder or glob, sorted, and their format ("parquet", "json" or "csv")."""
    if glob.has_magic(spec):
        paths = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if os.path.isfile(p)]
        if not paths:
            raise FileNotFoundError(f"{spec}: no file matches")
    elif os.path.isdir(spec):
        paths = sorted(p for p in Path(spec).rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        if not paths:
            raise FileNotFoundError(f"{spec}: no {', '.join(sorted(FORMATS))} file in the folder")
    else:
        paths = [Path(spec)]
    formats = set()
    for path in paths:
        if path.suffix.lower() not in FORMATS:
            raise InputFormatError(path, f"unknown input format; use one of {', '.join(sorted(set(FORMATS)))}")
        formats.add(FORMATS[path.suffix.lower()])
    if len(formats) > 1:
        raise ValueError(f"{spec}: the files mix formats ({', '.join(sorted(formats))}); give one format at a time")
    return paths, formats.pop()


def _is_local(spec: str) -> bool:
    """Whether ``spec`` names local files (a path, folder or glob) rather than a Hub dataset id."""
    return glob.has_magic(spec) or os.path.exists(spec) or Path(spec).suffix.lower() in FORMATS


class FileSource(Source):
    """Parquet, JSON lines or CSV files read with ``pyarrow.dataset``, file after file, in name order."""

    def __init__(self, spec: str, text_column: str | Sequence[str] = "text") -> None:
        import pyarrow.dataset as pads

        self.paths, self.format = input_files(spec)
        missing = [p for p in self.paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{missing[0]}: no such file")
        text_columns = [text_column] if isinstance(text_column, str) else list(text_column)
        file_format = FORMAT_BY_NAME[self.format].dataset_format(text_columns)
        self.description = self.local_spec = spec
        try:
            self.dataset: pads.FileSystemDataset = pads.dataset([str(p) for p in self.paths], format=file_format)
            self.schema = self.dataset.schema
            self.num_rows = self.dataset.count_rows() if self.format == "parquet" else None
        except (pa.ArrowException, OSError) as error:
            raise InputFormatError(spec, _first_line(error)) from None
        self.fingerprint = {
            "files": [
                {"path": os.path.abspath(p), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
                for p in self.paths
            ]
        }

    def batches(self, start: int = 0) -> Iterator[pa.RecordBatch]:
        """The record batches from row ``start`` on; whole Parquet files before it are skipped unread."""
        done = 0
        for path, fragment in zip(self.paths, self.dataset.get_fragments(), strict=True):
            if self.format == "parquet" and start >= done + (n := fragment.count_rows()):
                done += n
                continue
            try:
                for batch in fragment.to_batches(
                    schema=self.schema, batch_size=_READ_ROWS, batch_readahead=2, fragment_readahead=1
                ):
                    if done + batch.num_rows <= start:
                        done += batch.num_rows
                        continue
                    if done < start:
                        batch = batch.slice(start - done)
                        done = start
                    done += batch.num_rows
                    yield batch
            except pa.ArrowException as error:
                raise InputFormatError(path, _first_line(error)) from None


class HubSource(Source):
    """A split of a Hub dataset (or anything ``datasets.load_dataset`` takes), streamed as Arrow tables."""

    def __init__(self, spec: str, split: str = "train", revision: str | None = None) -> None:
        import datasets

        self.description = f"{spec} ({split})"
        try:
            self.dataset = datasets.load_dataset(spec, split=split, streaming=True, revision=revision)
        except Exception as error:  # datasets raises many kinds: not found, offline, bad split
            raise ValueError(f"{spec}: cannot stream split {split!r} ({_first_line(error)})") from None
        features = self.dataset.features
        if features is None:  # unknown until read: take the schema of the first batch
            first = next(iter(self.dataset.with_format("arrow").iter(batch_size=1)), None)
            self.schema = first.schema if first is not None else pa.schema([])
        else:
            self.schema = features.arrow_schema
        splits = getattr(self.dataset.info, "splits", None) or {}
        self.num_rows = splits[split].num_examples if split in splits and splits[split].num_examples else None
        self.fingerprint = {"dataset": spec, "split": split, "revision": revision}

    def batches(self, start: int = 0) -> Iterator[pa.RecordBatch]:
        """The record batches from row ``start`` on."""
        data = self.dataset.skip(start) if start else self.dataset
        for table in data.with_format("arrow").iter(batch_size=_READ_ROWS):
            yield from table.cast(self.schema).to_batches()


def open_source(
    spec: str,
    text_column: str = "text",
    split: str = "train",
    revision: str | None = None,
    *,
    columns: dict[str, str] | None = None,
    added: Sequence[str] = SCORE_COLUMNS,
) -> Source:
    """The source ``spec`` names: local files (path, folder, glob) or a Hub dataset id; checks that it has
    ``text_column`` (and the ``columns``, {name: the option that names it}; read as text in CSV) and none of the
    columns the output adds (``added``)."""
    wanted = {text_column: "--text-column", **(columns or {})}
    source = FileSource(spec, list(wanted)) if _is_local(spec) else HubSource(spec, split, revision)
    check_columns(source.description, source.schema.names, wanted)
    names = source.schema.names
    clash = [name for name in added if name in names]
    if clash:
        raise ValueError(f"{source.description}: already has column {clash[0]!r}, which the output adds")
    return source


def check_columns(description: str, names: Sequence[str], wanted: dict[str, str]) -> None:
    """One line of error for the first of ``wanted`` ({column: the option that names it}) not among ``names``."""
    for column, option in wanted.items():
        if column not in names:
            raise ValueError(f"{description}: no column {column!r} ({option}); the columns are {', '.join(names)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def parts_of(batches: Iterator[pa.RecordBatch], rows_per_part: int) -> Iterator[pa.Table]:
    """Cut a stream of record batches into tables of exactly ``rows_per_part`` rows (the last one may be shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows_per_part - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == rows_per_part:
                yield pa.Table.from_batches(pending)
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending)


__all__ = [
    "FORMATS",
    "FORMAT_BY_NAME",
    "INPUT_FORMATS",
    "InputFormat",
    "check_columns",
    "SCORE_COLUMNS",
    "Source",
    "FileSource",
    "HubSource",
    "open_source",
    "input_files",
    "parts_of",
]
