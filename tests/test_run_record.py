"""The run record's parts (metrics.json) read as types and write back the same text."""

from __future__ import annotations

import json

from movie_gender.training.report_parts import (
    Calibration,
    CorpusRecord,
    DatasetRecord,
    Difference,
    LevelReport,
    ScorerMetrics,
    TrainingRecord,
)
from movie_gender.training.run_record import RunRecord

SCORER = {
    "n": 40,
    "roc_auc": 0.81,
    "average_precision": 0.6,
    "threshold": 0.4,
    "balanced_accuracy": 0.7,
    "macro_f1": 0.69,
    "future_metric": 1.5,
    "ci95": {"roc_auc": [0.7, 0.9], "brier": [0.1, 0.2]},
}
RECORD = {
    "eval_split": "test",
    "line": {
        "model": SCORER,
        "tfidf_logreg": {**SCORER, "roc_auc": 0.75},
        "difference": {"tfidf_logreg": {"roc_auc": 0.06, "roc_auc_ci95": [-0.01, 0.1]}},
        "calibration": {"rule": "platt", "confident": {"cut": 0.9, "female": {"n": 0, "precision": None}}},
        "notes": {"written": "by a later version"},
    },
    "character": {"min_lines": 5, "model": SCORER, "speaker_leak": False},
    "dataset": {"split": "movie", "test_per_class": None, "corpus": {"source": "/home/me/corpus.zip", "male": 3}},
    "training": {"history": [{"epoch": 1}], "preset": "default", "output": "/home/me/out", "new_option": 3},
    "future_part": [1, 2],
}


def test_every_part_reads_as_its_type() -> None:
    record = RunRecord.from_dict(RECORD)
    line = record.level("line")
    assert isinstance(line, LevelReport) and set(line.scorers) == {"model", "tfidf_logreg"}
    assert (
        isinstance(line.model, ScorerMetrics) and line.model.roc_auc == 0.81 and line.model.ci95.roc_auc == [0.7, 0.9]
    )
    assert isinstance(line.difference["tfidf_logreg"], Difference) and line.difference["tfidf_logreg"].roc_auc == 0.06
    assert isinstance(line.calibration, Calibration) and line.calibration.confident.female.precision is None
    assert record.level("character").min_lines == 5 and record.level("character").speaker_leak is False
    assert isinstance(record.dataset, DatasetRecord) and isinstance(record.dataset.corpus, CorpusRecord)
    assert record.dataset.corpus.male == 3 and record.dataset.split == "movie"
    assert isinstance(record.training, TrainingRecord) and record.training.preset == "default"
    assert record.has_results and not RunRecord().has_results and not RunRecord().level("character")


def test_a_record_writes_back_the_text_it_was_read_from_unknown_keys_nulls_and_order_included() -> None:
    text = json.dumps(RECORD, indent=2) + "\n"
    record = RunRecord.from_json(text)
    assert record.to_json() == text
    assert record.level("line").model.extra == {"future_metric": 1.5}
    assert record.level("line").extra == {"notes": {"written": "by a later version"}}
    assert record.training.extra == {"new_option": 3} and record.extra == {"future_part": [1, 2]}
    assert "test_per_class" in record.to_dict()["dataset"] and "balance" not in record.to_dict()["dataset"]


def test_a_part_given_as_a_dict_is_read_into_its_type_and_written_as_given() -> None:
    record = RunRecord(line=RECORD["line"], dataset=RECORD["dataset"], training=RECORD["training"])
    assert isinstance(record.line, LevelReport) and isinstance(record.training, TrainingRecord)
    assert record.to_dict() == {key: RECORD[key] for key in ("line", "dataset", "training")}


def test_a_field_set_after_reading_is_written_after_the_keys_read() -> None:
    record = RunRecord.from_dict(RECORD)
    record.dataset.balance = "oversample"
    record.level("line").model.threshold = 0.5
    written = record.to_dict()
    assert list(written["dataset"])[-1] == "balance" and written["line"]["model"]["threshold"] == 0.5
    assert list(written["line"]["model"]) == list(SCORER)


def test_publishing_reduces_local_paths_in_the_typed_parts_to_file_names() -> None:
    published = RunRecord.from_dict(RECORD).published()
    assert published.dataset.corpus.source == "corpus.zip" and published.training.output == "out"
    assert RunRecord.from_dict(RECORD).dataset.corpus.source == "/home/me/corpus.zip"
