"""Reliability: interrupted training resumes to the same weights, writes are atomic, bad input is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, build_dataset, load_cornell, train_tokenizer
from movie_gender.atomic import atomic_path
from movie_gender.errors import CorpusFormatError, ModelLoadError
from movie_gender.training import loop as training_module
from movie_gender.training.loop import EncodedSplit, TrainingConfig, train
from movie_gender.training.pipeline import check_writable
from tests.factories import SEP, synthetic_corpus, write_corpus_folder


@pytest.fixture(scope="module")
def data():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        dd = build_dataset(write_corpus_folder(Path(tmp), *synthetic_corpus(n_movies=12, lines_per_character=30)))
        tokenizer = train_tokenizer(dd["train"]["text"])
        return (
            tokenizer,
            EncodedSplit.from_texts(tokenizer, dd["train"]["text"], dd["train"]["label"]),
            EncodedSplit.from_texts(tokenizer, dd["validation"]["text"], dd["validation"]["label"]),
        )


def _model(tokenizer) -> BiLSTMClassifier:
    torch.manual_seed(0)
    model = BiLSTMClassifier(
        BiLSTMConfig(
            vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=8, num_layers=2, pooling="mean_max"
        )
    )
    model.tokenizer = tokenizer
    return model


CONFIG = dict(epochs=3, batch_size=16, patience=0, checkpoint_every=4, seed=3)


def test_interrupted_training_resumes_to_the_same_weights(data, tmp_path: Path, monkeypatch) -> None:
    tokenizer, train_data, val = data
    reference = _model(tokenizer)
    reference_result = train(
        reference, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "a", progress=False
    )

    calls = {"n": 0}
    real_autocast = training_module.autocast

    def interrupting_autocast(*args, **kwargs):  # Ctrl-C in the middle of epoch 2, at batch 11 of the run
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(training_module, "autocast", interrupting_autocast)
    interrupted = _model(tokenizer)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", progress=False)
    monkeypatch.setattr(training_module, "autocast", real_autocast)
    saved = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert saved["steps"] == 49

    resumed = _model(tokenizer)  # a fresh process would start from a fresh model
    result = train(
        resumed, train_data, val, TrainingConfig(**CONFIG), checkpoint_dir=tmp_path / "b", resume=True, progress=False
    )
    assert result.steps == reference_result.steps and result.best_epoch == reference_result.best_epoch
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert [h["val_auc"] for h in result.history] == [h["val_auc"] for h in reference_result.history]


def test_checkpoints_load_without_unpickling(data, tmp_path: Path) -> None:
    tokenizer, train_data, val = data
    train(
        _model(tokenizer),
        train_data,
        val,
        TrainingConfig(epochs=1, batch_size=16),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # raises if anything in it needs pickle


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_text("old, complete")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half writ")
        raise RuntimeError("disk full")
    assert target.read_text() == "old, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_a_failed_save_never_leaves_a_weights_file(data, tmp_path: Path, monkeypatch) -> None:
    import movie_gender.model.persistence as modeling

    def failing_save(model, path, metadata=None):
        Path(path).write_bytes(b"\x00" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(modeling, "save_model", failing_save)
    with pytest.raises(OSError, match="No space left"):
        _model(data[0]).save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m" / "model.safetensors").exists()
    assert not [p for p in tmp_path.rglob("*") if "incomplete" in p.name]


def test_unwritable_output_is_reported_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(PermissionError, match="a-file/model: the output folder is not writable"):
        check_writable(blocker / "model")


def test_pad_and_unk_ids_must_match_the_config(data, tmp_path: Path) -> None:
    tokenizer = data[0]
    model = _model(tokenizer)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["pad_token_id"], config["unk_token_id"] = 1, 0
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"\[PAD\] has id 0, but config.json says 1"):
        BiLSTMClassifier.from_pretrained(tmp_path / "m")


def test_utf8_corpus_is_named_not_garbled(tmp_path: Path) -> None:
    lines, characters = synthetic_corpus(n_movies=3)
    lines[4] = lines[4].rsplit(SEP, 1)[0] + SEP + "Caf\u00e9, s'il vous pla\u00eet"
    folder = tmp_path / "c" / "cornell movie-dialogs corpus"
    folder.mkdir(parents=True)
    (folder / "movie_lines.txt").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    (folder / "movie_characters_metadata.txt").write_bytes(("\n".join(characters) + "\n").encode("latin-1"))
    with pytest.raises(CorpusFormatError, match=r"movie_lines.txt:5: the file is UTF-8, not ISO-8859-1"):
        load_cornell(tmp_path / "c")
    assert "Caf\u00e9" in " ".join(load_cornell(tmp_path / "c", encoding="utf-8")["text"])


def test_blank_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    from movie_gender.data.corpus import read_corpus

    lines, characters = synthetic_corpus(n_movies=3)
    folder = write_corpus_folder(tmp_path / "c", lines[:10] + ["", "  "] + lines[10:], characters)
    dataset, stats = read_corpus(folder)
    assert stats.blank_lines == 2 and len(dataset) == len(
        load_cornell(write_corpus_folder(tmp_path / "d", lines, characters))
    )
