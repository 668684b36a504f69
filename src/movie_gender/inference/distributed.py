"""Score a table of lines on a Ray cluster with Ray Data: ``read_parquet`` / ``read_json`` / ``read_csv`` ->
``map_batches`` over a pool of actors, each holding one loaded model -> one Parquet file, in input order (or, for an
output folder or URI, ``write_parquet``).

The cluster is the one ``RAY_ADDRESS`` names, or a local one started for the job (and stopped after it). Ray is an
extra: ``pip install 'movie-gender[distributed]'``; it is imported only here, and only when called.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from movie_gender.atomic import atomic_path, check_output
from movie_gender.errors import MovieGenderError
from movie_gender.inference.sources import (
    FORMAT_BY_NAME,
    FORMATS,
    SCORE_COLUMNS,
    FileSource,
    check_columns,
    open_source,
)
from movie_gender.inference.speaker_tables import (
    SpeakerTableOptions,
    SpeakerTableStats,
    explain_missing,
    score_groups,
)
from movie_gender.inference.speaker_tables import output_schema as speaker_schema
from movie_gender.inference.streaming import StreamOptions, StreamStats, output_schema, score_table

if TYPE_CHECKING:
    from movie_gender.inference.classifier import BiLSTMPredictor as BiLSTMClassifier

logger = logging.getLogger(__name__)

EXTRA = "pip install 'movie-gender[distributed]'"


class MissingExtraError(MovieGenderError, ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require_ray() -> Any:
    """The ``ray`` module (with Ray Data), or a one-line error naming the extra."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"--engine ray needs Ray Data, which is not installed: {EXTRA}") from None
    return ray


class RayScorer:
    """A Ray Data actor: one model, loaded once, scoring one Arrow batch per call (as :func:`score_table`)."""

    def __init__(self, model: BiLSTMClassifier, text_column: str, batch_size: int, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        self.model, self.text_column, self.batch_size = model.eval(), text_column, batch_size

    def __call__(self, batch: pa.Table) -> pa.Table:
        """``batch`` with ``p_female`` and ``predicted_label`` appended."""
        return score_table(self.model, batch, self.text_column, self.batch_size)[0]


def _is_uri(spec: str) -> bool:
    return "://" in spec


def read_dataset(ray: Any, spec: str, text_column: str, columns: dict[str, str] | None = None) -> tuple[Any, pa.Schema]:
    """The Ray dataset of ``spec`` (local files, a folder or glob of them, or a URI of one format), read by the
    format's entry in :data:`movie_gender.inference.sources.INPUT_FORMATS`, and its schema; checked as the local
    engine checks it (the text column and ``columns``, {name: option}, are there; for local input also that no
    output column clashes)."""
    wanted = {text_column: "--text-column", **(columns or {})}
    if _is_uri(spec):
        fmt = FORMATS.get(Path(spec.rstrip("/")).suffix.lower(), "parquet")
        paths: str | list[str] = spec
        schema = None
    else:
        source = open_source(spec, text_column, columns=columns, added=() if columns else SCORE_COLUMNS)
        if not isinstance(source, FileSource):
            raise ValueError(f"{spec}: --engine ray reads files (local paths, a glob or a URI); use --engine local")
        paths, fmt, schema = [str(p) for p in source.paths], source.format, source.schema
    data = FORMAT_BY_NAME[fmt].ray_read(ray, paths, list(wanted))
    if schema is None:
        schema = data.schema().base_schema
        check_columns(spec, schema.names, wanted)
    return data, schema


def _cluster(ray: Any, num_cpus: int | None) -> bool:
    """Connect to the cluster at RAY_ADDRESS, or start a local one; True when this call started Ray."""
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        logger.info("Connecting to the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        logger.info("Started a local Ray cluster (%s CPUs)", ray.cluster_resources().get("CPU"))
    return True


def ray_predict(
    model: BiLSTMClassifier,
    spec: str,
    output: str | os.PathLike,
    options: StreamOptions | None = None,
    *,
    num_cpus: int | None = None,
) -> StreamStats:
    """Score every row of ``spec`` with Ray Data; ``output`` FILE.parquet gets the input's columns plus ``p_female``
    and ``predicted_label`` in input order (written on this machine, atomically); a folder or URI gets Ray's
    ``write_parquet`` files (and the stats say ``rows=-1``: not counted). ``options.num_workers``: actors (default:
    the cluster's CPUs less one); ``num_cpus``: of a local cluster started here (default: all)."""
    options = options or StreamOptions()
    ray = require_ray()
    check_ray_output(output, spec)
    started = time.perf_counter()
    started_ray = _cluster(ray, num_cpus)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # output rows in input order
        context.enable_progress_bars = False  # the one bar below
        data, schema = read_dataset(ray, str(spec), options.text_column)
        scored = _score_with_actors(ray, data, model, spec, options)
        if _is_uri(str(output)) or Path(output).suffix.lower() != ".parquet":
            scored.write_parquet(str(output))  # no driver pass over the rows: they are not counted here
            logger.info("Wrote Ray's Parquet files to %s in %.0f s", output, time.perf_counter() - started)
            return StreamStats(rows=-1, seconds=time.perf_counter() - started)
        stats = _write_one_file(scored, Path(output), output_schema(schema), options)
    finally:
        if started_ray:
            ray.shutdown()
    stats.seconds = time.perf_counter() - started
    logger.info(
        "Wrote %s rows to %s (%.0f lines/s); %s empty and %s non-string cells scored as empty lines",
        f"{stats.rows:,}",
        output,
        stats.lines_per_s,
        f"{stats.empty:,}",
        f"{stats.non_string:,}",
    )
    return stats


def _score_with_actors(ray: Any, data: Any, model: BiLSTMClassifier, spec: str, options: StreamOptions) -> Any:
    """``data`` scored lazily by a pool of :class:`RayScorer` actors (``options.num_workers``, default: the cluster's
    CPUs less one), one part of ``options.rows_per_part`` rows per call."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = options.num_workers or max(1, cpus - 1)
    scored = data.map_batches(
        RayScorer,
        fn_constructor_kwargs={
            "model": model,
            "text_column": options.text_column,
            "batch_size": options.batch_size,
        },
        batch_format="pyarrow",
        batch_size=options.rows_per_part,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    )
    logger.info("Scoring %s with %d Ray actors", spec, actors)
    return scored


def check_ray_output(output: str | os.PathLike, spec: str) -> None:
    """Refuse, before any work, an output that is the input ``spec`` or lies where it is read, or (a folder or URI:
    Ray's files) holds it (:func:`movie_gender.atomic.check_output`)."""
    text = os.fspath(output)
    check_output(output, [spec], folder=_is_uri(text) or Path(text).suffix.lower() != ".parquet")


def _write_one_file(scored: Any, output: Path, schema: pa.Schema, options: StreamOptions) -> StreamStats:
    """Stream the scored batches, in order, into one Parquet file (atomically), counting empty and non-string
    cells."""
    stats = StreamStats()
    with (
        atomic_path(output) as tmp,
        pq.ParquetWriter(tmp, schema) as writer,
        tqdm(unit=" lines", unit_scale=True, desc="Scoring (ray)", disable=not options.progress) as bar,
    ):
        for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            table = batch.cast(schema)
            writer.write_table(table)
            column = table.column(options.text_column)
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                blank = pc.sum(pc.equal(pc.utf8_trim_whitespace(column), "")).as_py() or 0
                stats.empty += column.null_count + blank
            else:
                stats.empty += column.null_count
                stats.non_string += len(column) - column.null_count
            stats.rows += table.num_rows
            bar.update(table.num_rows)
    return stats


class RayGroupScorer:
    """A Ray Data actor for ``map_groups``: one model, loaded once, scoring the characters of one group per call
    (as :func:`movie_gender.inference.speaker_tables.score_groups`)."""

    def __init__(self, model: BiLSTMClassifier, options: SpeakerTableOptions, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        self.model, self.options = model.eval(), options

    def __call__(self, group: pa.Table) -> pa.Table:
        """One row per speaker of ``group``: group, speaker, n_lines, p_female, predicted_label."""
        return score_groups(self.model, group, self.options)


def _keyed(batch: pa.Table, keys: list[str]) -> pa.Table:
    """The rows of ``batch`` with every one of ``keys`` set (a line without a speaker or group is left out)."""
    mask = pc.is_valid(batch[keys[0]])
    for key in keys[1:]:
        mask = pc.and_(mask, pc.is_valid(batch[key]))
    return batch.filter(mask)


def ray_speaker_table(
    model: BiLSTMClassifier,
    spec: str,
    output: str | os.PathLike,
    options: SpeakerTableOptions,
    *,
    num_workers: int | None = None,
    num_cpus: int | None = None,
) -> SpeakerTableStats:
    """Score the characters of the speaker table ``spec`` with Ray Data: ``groupby(group).map_groups`` over a pool
    of :class:`RayGroupScorer` actors (``num_workers``, default: the cluster's CPUs less one), then sorted by
    group and speaker; ``output`` FILE.parquet is written on this machine (atomically), a folder or URI gets Ray's
    ``write_parquet`` files. No resume: a killed job starts over."""
    options.check()
    ray = require_ray()
    check_ray_output(output, spec)
    explain_missing(model, options)
    started, stats = time.perf_counter(), SpeakerTableStats()
    started_ray = _cluster(ray, num_cpus)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the sorted rows reach the file in order
        context.enable_progress_bars = False
        data, schema = read_dataset(ray, str(spec), options.text_column, options.columns())
        keys = [options.group_column, options.speaker_column]
        data = data.select_columns([options.text_column, *options.columns()])
        data = data.map_batches(_keyed, fn_kwargs={"keys": keys}, batch_format="pyarrow")
        actors = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)) - 1)
        logger.info("Scoring the characters of %s with %d Ray actors", spec, actors)
        scored = data.groupby(options.group_column).map_groups(
            RayGroupScorer,
            fn_constructor_kwargs={"model": model, "options": options},
            compute=ray.data.ActorPoolStrategy(size=actors),
            batch_format="pyarrow",
            num_cpus=1,
        )
        scored = scored.sort(keys)
        out_schema = speaker_schema(schema, options)
        if _is_uri(str(output)) or Path(output).suffix.lower() != ".parquet":
            scored.write_parquet(str(output))
            stats.characters = -1
        else:
            with atomic_path(output) as tmp, pq.ParquetWriter(tmp, out_schema) as writer:
                for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
                    writer.write_table(batch.cast(out_schema))
                    stats.characters += batch.num_rows
    finally:
        if started_ray:
            ray.shutdown()
    stats.seconds = time.perf_counter() - started
    logger.info("Wrote %s characters to %s in %.0f s (Ray)", f"{stats.characters:,}", output, stats.seconds)
    return stats


__all__ = [
    "EXTRA",
    "MissingExtraError",
    "RayScorer",
    "require_ray",
    "read_dataset",
    "check_ray_output",
    "ray_predict",
    "RayGroupScorer",
    "ray_speaker_table",
]
