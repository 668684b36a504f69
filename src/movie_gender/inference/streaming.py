"""Score a table of lines of any size on one machine: read it in record batches, score fixed-size parts (in one
process or a pool), write each part to disk as it is done, and join the parts into one Parquet file at the end.

The input is Parquet, JSON lines or CSV (a file, a folder of them, or a glob), or a Hub dataset id streamed with
``datasets`` (read by :mod:`movie_gender.inference.sources`). The output holds the input's columns, in input
order, plus ``p_female`` and ``predicted_label``.

Memory is bounded by the parts in flight (one per worker plus one waiting each, of ``rows_per_part`` rows), not by
the input. Parts are cut by input row number and written atomically under ``OUT.parquet.parts/`` beside a manifest
of the input, the model and the options; a job started again with the same output scores only the missing parts
(a manifest that disagrees is refused), and the final file, written through a temporary file and a rename, is the
same as an uninterrupted run's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path, check_output, remove_stale
from movie_gender.errors import MovieGenderError
from movie_gender.inference.prediction import context_size, line_labels, line_logits, p_female
from movie_gender.inference.sources import Source, open_source, parts_of

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_PART = re.compile(r"part-(\d{6,})\.parquet")


class ResumeMismatchError(MovieGenderError, ValueError):
    """An unfinished job's parts folder belongs to another input, model or options."""


class JobLockedError(MovieGenderError, OSError):
    """Another job is writing the same output."""


@dataclasses.dataclass
class StreamOptions:
    """How :func:`stream_predict` reads, cuts and scores the input."""

    text_column: str = "text"
    batch_size: int = 512  # lines per forward pass
    rows_per_part: int = 65_536  # rows per part file: the unit of work, of memory and of resuming
    num_workers: int | None = None  # processes scoring parts (None or 1: this process); Ray: actors
    split: str = "train"  # the split of a Hub dataset
    revision: str | None = None  # the revision of a Hub dataset
    progress: bool = True


@dataclasses.dataclass
class StreamStats:
    """What a run did: rows written, empty and non-string cells (scored as empty lines), parts scored and reused."""

    rows: int = 0
    empty: int = 0
    non_string: int = 0
    parts_scored: int = 0
    parts_reused: int = 0
    seconds: float = 0.0

    @property
    def lines_per_s(self) -> float:
        """Rows scored per second by this run (reused parts not counted)."""
        return self.rows / self.seconds if self.seconds else float("nan")


# ------------------------------------------------------------------------------------------------------- scoring
def line_texts(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], int, int]:
    """The texts of a column, with null, blank and non-string cells as empty lines; and how many cells were empty
    (null or blank) and how many not strings."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        texts = column.to_pylist()
        empty = 0
        for i, text in enumerate(texts):
            if text is None or not text.strip():
                texts[i] = ""
                empty += 1
        return texts, empty, 0
    nulls = column.null_count
    return [""] * len(column), nulls, len(column) - nulls


def score_table(
    model: BiLSTMClassifier, table: pa.Table, text_column: str = "text", batch_size: int = 512
) -> tuple[pa.Table, int, int]:
    """``table`` with ``p_female`` and ``predicted_label`` appended, and the counts of empty and non-string cells
    of ``text_column`` (scored as empty lines)."""
    texts, empty, non_string = line_texts(table.column(text_column))
    logits = line_logits(model, texts, batch_size=batch_size, progress=False)  # 8,192 lines at a time
    p = p_female(model, logits)
    scored = table.append_column("p_female", pa.array(p, pa.float64()))
    return scored.append_column("predicted_label", line_labels(model, p)), empty, non_string


def output_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of the output of an input with ``schema``."""
    return schema.append(pa.field("p_female", pa.float64())).append(pa.field("predicted_label", pa.string()))


def model_fingerprint(model: BiLSTMClassifier) -> str:
    """A hash of a model's config, tokenizer and weights: the same model gives the same scores."""
    digest = xxhash.xxh64()
    digest.update(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        digest.update(tokenizer.to_str().encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


# --- the process pool: each worker holds one model and writes the parts it scores ---------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(model: BiLSTMClassifier, threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["model"] = model
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker when the job's process is gone (killed): a pool's idle workers would otherwise wait on."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _score_part(path: str, table: pa.Table, text_column: str, batch_size: int, schema: pa.Schema) -> tuple[int, int]:
    scored, empty, non_string = score_table(_WORKER["model"], table, text_column, batch_size)
    with atomic_path(path) as tmp:
        pq.write_table(scored.cast(schema), tmp)
    return empty, non_string


# ----------------------------------------------------------------------------------------------------- the job
def parts_folder(output: str | os.PathLike) -> Path:
    """Where the parts of ``output`` are written until the job ends: ``OUT.parquet.parts``."""
    output = Path(output)
    return output.with_name(output.name + ".parts")


def _part_path(folder: Path, index: int) -> Path:
    return folder / f"part-{index:06d}.parquet"


def _done_parts(folder: Path, rows_per_part: int) -> dict[int, int]:
    """{part index: rows} of the complete parts in ``folder`` (written atomically, so a part there is whole)."""
    done = {}
    for path in folder.glob("part-*.parquet"):
        match = _PART.fullmatch(path.name)
        if match:
            rows = pq.ParquetFile(path).metadata.num_rows
            if rows <= rows_per_part:
                done[int(match[1])] = rows
    return done


def _manifest(source: Source, model: BiLSTMClassifier, options: StreamOptions, schema: pa.Schema) -> dict:
    return {
        "version": MANIFEST_VERSION,
        "input": source.fingerprint,
        "model": model_fingerprint(model),
        "text_column": options.text_column,
        "rows_per_part": options.rows_per_part,
        "batch_size": options.batch_size,
        "schema": schema.to_string(show_schema_metadata=False),
    }


def _check_manifest(folder: Path, manifest: dict) -> bool:
    """Write the manifest of a new job, or check an unfinished one's; True when resuming."""
    path = folder / MANIFEST
    if not path.exists():
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return False
    old = json.loads(path.read_text(encoding="utf-8"))
    for key, value in manifest.items():
        if old.get(key) != value:
            what = {"input": "the input files changed", "model": "another model"}.get(key, f"{key}: {old.get(key)!r}")
            raise ResumeMismatchError(
                f"{folder}: an unfinished job with other input, model or options is there ({what}); "
                "run it again as it was started, or remove the folder to start over"
            )
    return True


def check_parquet_output(output: str | os.PathLike, source: Source) -> Path:
    """``output`` as a Path, once checked: FILE.parquet, in a folder that exists, and not ``source``'s input (nor
    inside a folder or glob it reads: :func:`movie_gender.atomic.check_output`)."""
    output = Path(output)
    if output.suffix.lower() != ".parquet":
        raise ValueError(f"{output}: the streamed output is Parquet; name it FILE.parquet")
    return check_output(output, [source.local_spec])


@contextlib.contextmanager
def job_folder(output: Path, manifest: dict) -> Iterator[tuple[Path, bool]]:
    """The parts folder of ``output`` (:func:`parts_folder`), locked for this job, its manifest written or checked
    against ``manifest`` (:class:`ResumeMismatchError`), the temporary files of a killed run removed; yields
    ``(folder, resuming)``. The folder is removed when the block succeeds (the output is complete) and kept when
    it fails (for a resume)."""
    from filelock import FileLock, Timeout

    folder = parts_folder(output)
    folder.mkdir(exist_ok=True)
    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise JobLockedError(f"{output}: another job is writing it (lock {folder / '.lock'})") from None
    try:
        for stale in folder.rglob(".*.incomplete"):  # temporary files of a killed run; the lock says none runs
            stale.unlink(missing_ok=True)
        yield folder, _check_manifest(folder, manifest)
    finally:
        lock.release()
    shutil.rmtree(folder, ignore_errors=True)  # the output is complete: the parts are no longer needed


def stream_predict(
    model: BiLSTMClassifier, source: Source | str, output: str | os.PathLike, options: StreamOptions | None = None
) -> StreamStats:
    """Score every row of ``source`` into the Parquet file ``output``: the input's columns plus ``p_female`` and
    ``predicted_label``, in input order; resumes an unfinished job of the same input, model and options."""
    options = options or StreamOptions()
    if isinstance(source, str):
        source = open_source(source, options.text_column, options.split, options.revision)
    output = check_parquet_output(output, source)
    if context_size(model):
        logger.warning("The model reads context, which a table of lines does not give: scoring each line alone")
    schema = output_schema(source.schema)
    with job_folder(output, _manifest(source, model, options, schema)) as (folder, resuming):
        return _run(model, source, output, options, schema, folder, resuming)


def _run(
    model: BiLSTMClassifier,
    source: Source,
    output: Path,
    options: StreamOptions,
    schema: pa.Schema,
    folder: Path,
    resuming: bool,
) -> StreamStats:
    started = time.perf_counter()
    done = _done_parts(folder, options.rows_per_part) if resuming else {}
    stats = StreamStats(parts_reused=len(done))
    first_missing = next(i for i in range(len(done) + 1) if i not in done)
    if done:
        logger.info("Resuming %s: %d parts of %s are already scored", output, len(done), source.description)
    n_parts = first_missing
    with (
        tqdm(
            total=source.num_rows,
            initial=sum(done.values()),
            unit=" lines",
            unit_scale=True,
            desc="Scoring",
            disable=not options.progress,
        ) as bar,
        _Scorer(model, options, schema) as scorer,
    ):
        for index, table in enumerate(
            parts_of(source.batches(first_missing * options.rows_per_part), options.rows_per_part), first_missing
        ):
            n_parts = index + 1
            if index in done:
                continue
            for rows, empty, non_string in scorer.submit(_part_path(folder, index), table):
                _count(stats, bar, rows, empty, non_string)
        for rows, empty, non_string in scorer.drain():
            _count(stats, bar, rows, empty, non_string)
    _join(folder, n_parts, output, schema)
    stats.seconds = time.perf_counter() - started
    total = pq.ParquetFile(output).metadata.num_rows
    logger.info(
        "Wrote %s rows to %s (%s scored now, %.0f lines/s); %s empty and %s non-string cells scored as empty lines",
        f"{total:,}",
        output,
        f"{stats.rows:,}",
        stats.lines_per_s,
        f"{stats.empty:,}",
        f"{stats.non_string:,}",
    )
    return stats


def _count(stats: StreamStats, bar: tqdm, rows: int, empty: int, non_string: int) -> None:
    stats.rows += rows
    stats.empty += empty
    stats.non_string += non_string
    stats.parts_scored += 1
    bar.update(rows)


class _Scorer:
    """Score parts in this process (one worker) or in a process pool, at most two parts per worker in flight."""

    def __init__(self, model: BiLSTMClassifier, options: StreamOptions, schema: pa.Schema) -> None:
        self.model, self.options, self.schema = model, options, schema
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.pending: set[concurrent.futures.Future[tuple[int, int]]] = set()
        self.rows: dict[concurrent.futures.Future[tuple[int, int]], int] = {}  # the rows of each part in flight

    def __enter__(self) -> _Scorer:
        workers = self.options.num_workers or 1
        if workers > 1:
            import torch

            threads = max(1, torch.get_num_threads() // workers)  # this process' threads, shared out
            self.pool = concurrent.futures.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a process with torch's threads
                initializer=_init_worker,
                initargs=(self.model, threads, os.getpid()),
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, path: Path, table: pa.Table) -> Iterator[tuple[int, int, int]]:
        """Score ``table`` into ``path``; yields (rows, empty, non-string) of the parts that finished meanwhile."""
        o = self.options
        if self.pool is None:
            scored, empty, non_string = score_table(self.model, table, o.text_column, o.batch_size)
            with atomic_path(path) as tmp:
                pq.write_table(scored.cast(self.schema), tmp)
            yield table.num_rows, empty, non_string
            return
        future = self.pool.submit(_score_part, str(path), table, o.text_column, o.batch_size, self.schema)
        self.rows[future] = table.num_rows
        self.pending.add(future)
        if len(self.pending) >= 2 * (o.num_workers or 1):
            finished, self.pending = concurrent.futures.wait(
                self.pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            yield from self._results(finished)

    def drain(self) -> Iterator[tuple[int, int, int]]:
        """Wait for the parts in flight."""
        finished = concurrent.futures.wait(self.pending).done
        self.pending = set()
        yield from self._results(finished)

    def _results(self, finished: set[concurrent.futures.Future[tuple[int, int]]]) -> Iterator[tuple[int, int, int]]:
        for future in finished:
            rows = self.rows.pop(future)
            empty, non_string = future.result()
            yield rows, empty, non_string


def _join(folder: Path, n_parts: int, output: Path, schema: pa.Schema) -> None:
    """Concatenate the parts 0..n_parts-1 into ``output`` (one row group each), atomically."""
    missing = [i for i in range(n_parts) if not _part_path(folder, i).exists()]
    if missing:
        raise RuntimeError(f"{folder}: part {missing[0]} is missing after scoring")
    remove_stale(output)  # the temporary file of a run killed while joining
    with atomic_path(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for index in range(n_parts):
            writer.write_table(pq.read_table(_part_path(folder, index), schema=schema))


__all__ = [
    "StreamOptions",
    "StreamStats",
    "ResumeMismatchError",
    "JobLockedError",
    "line_texts",
    "score_table",
    "output_schema",
    "model_fingerprint",
    "parts_folder",
    "job_folder",
    "check_parquet_output",
    "stream_predict",
]
