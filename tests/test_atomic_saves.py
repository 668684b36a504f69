"""Whole-folder saves: a real process SIGKILLed at several points of a save over an existing folder leaves the
complete old folder or the complete new one, never a mix (model folders, train.py's outputs, dataset folders). Each
save runs in a process forked from one child that imported the package once (imports took ~90% of this file's time)."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, train_tokenizer
from movie_gender.atomic import atomic_folder
from movie_gender.configuration import DataOptions
from movie_gender.data.dataset import prepare_dataset
from movie_gender.hub.dataset_folder import save_dataset
from tests.factories import synthetic_corpus, write_corpus_folder

# The child: imports once, then for each line "K SOURCE TARGET" on stdin forks a process that loads the content of
# SOURCE, saves it over TARGET and SIGKILLs itself just before its K-th file-system change (rename, replace, unlink,
# link, rmdir, folder swap; K = 0: never); it answers each line with that process's exit status and, for a save that
# finished, how many changes it made ("-" for a killed one). One import for all the saves of a test, and each save is
# still a process of its own, really killed.
CHILD = r"""
import json, os, signal, sys
kind = sys.argv[1]
import datasets
from movie_gender import BiLSTMClassifier
from movie_gender.hub.dataset_folder import save_dataset
from movie_gender.hub.model_folder import write_outputs
from movie_gender.training.run_record import RunRecord
count, kill_at = 0, 0
def point(real):
    def changed(*args, **kwargs):
        global count
        count += 1
        if count == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return changed
for name in ("replace", "rename", "unlink", "link", "rmdir"):
    setattr(os, name, point(getattr(os, name)))
try:
    from movie_gender import atomic
    atomic._exchange = point(atomic._exchange)
except ImportError:  # before whole-folder saves existed
    pass
def save(source, target):
    if kind == "dataset":
        save_dataset(datasets.load_from_disk(source), target)
    elif kind == "model":
        BiLSTMClassifier.from_pretrained(source).save_pretrained(target)
    else:
        extra = json.loads(open(os.path.join(source, "outputs.json")).read())
        write_outputs(__import__("pathlib").Path(target), BiLSTMClassifier.from_pretrained(source),
                      RunRecord.from_dict(extra["metrics"]), extra["scores"])
for line in sys.stdin:
    kill_at, source, target = line.rstrip("\n").split("\t")
    count, kill_at = 0, int(kill_at)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        save(source, target)
        os.write(write, str(count).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    made = os.read(read, 64).decode() or "-"
    os.close(read)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    print(code, made, flush=True)
"""


class Saver:
    """The child above for one kind of folder; :meth:`save` runs one save in a process of its own."""

    def __init__(self, kind: str, log: Path) -> None:
        self.log = log
        with log.open("w") as stderr:  # a file, not a pipe: the savers' progress bars must never block them
            self.process = subprocess.Popen(
                [sys.executable, "-c", CHILD, kind],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def save(self, source: Path, target: Path, kill_at: int = 0) -> tuple[int, int | None]:
        """Save ``source``'s content over ``target``, killed before file-system change ``kill_at`` (0: never): the
        exit status (negative: killed by that signal) and the changes a finished save made (None: it did not
        finish)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{kill_at}\t{source}\t{target}\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().split()
        if len(answer) != 2:
            self.process.kill()
            self.process.wait(timeout=60)
            raise AssertionError(self.log.read_text()[-2000:])
        return int(answer[0]), None if answer[1] == "-" else int(answer[1])

    def close(self) -> None:
        """End the child (stdin closed) and wait for it."""
        self.process.communicate(timeout=60)


LINES = ["I'll be in the car, darling.", "Get the gun, buddy!", "What?", "Oh my, what a lovely dress."]


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _model(seed: int, lines: list[str]) -> BiLSTMClassifier:
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(lines)
    model = BiLSTMClassifier(BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6))
    model.tokenizer = tokenizer
    return model


def _outputs(seed: int) -> dict:
    m = {
        "n": 4,
        "threshold": 0.5,
        "accuracy": 0.5 + seed / 100,
        "balanced_accuracy": 0.5,
        "macro_f1": 0.5,
        "roc_auc": 0.6,
        "per_class": {},
        "confusion_matrix": [[1, 1], [1, 1]],
        "ci95": {},
    }
    history = [
        {
            "epoch": 1,
            "steps": 3,
            "train_loss": 0.7,
            "val_loss": 0.69,
            "val_auc": 0.6,
            "val_balanced_accuracy": 0.55,
            "seconds": 1.0,
            "lines_per_s": 10.0,
            "tokens_per_s": 50.0,
        }
    ]
    metrics = {
        "eval_split": "test",
        "bootstrap": 0,
        "seed": seed,
        "line": {"model": m, "tfidf_logreg": m},
        "dataset": {"split": "movie", "corpus": {"source": "corpus.zip"}},
        "model": {"hidden_size": 6},
        "glove": {"name": "glove.6B.50d"},
        "training": {"history": history, "seconds": 1.0},
    }
    scores = {
        "line": {
            "labels": [0, 1, 0, 1],
            "model": [0.1, 0.9, 0.4, 0.3 + seed / 100],
            "tfidf_logreg": [0.2, 0.7, 0.5, 0.5],
        }
    }
    return {"metrics": metrics, "scores": scores}


def _sources(kind: str, tmp_path: Path) -> tuple[Path, Path]:
    """Folders holding the old (a) and the new (b) content for the child to load."""
    a, b = tmp_path / "source-a", tmp_path / "source-b"
    if kind == "dataset":
        corpus = write_corpus_folder(tmp_path / "corpus", *synthetic_corpus(n_movies=12))
        prepare_dataset(corpus, DataOptions(seed=1))[0].save_to_disk(str(a))
        prepare_dataset(corpus, DataOptions(seed=2))[0].save_to_disk(str(b))
        return a, b
    _model(0, LINES[:2]).save_pretrained(a)
    _model(1, LINES).save_pretrained(b)
    if kind == "outputs":
        (a / "outputs.json").write_text(json.dumps(_outputs(0)))
        (b / "outputs.json").write_text(json.dumps(_outputs(1)))
    return a, b


@pytest.mark.parametrize("kind", ["model", "outputs", "dataset"])
def test_a_save_killed_at_any_point_leaves_the_old_or_the_new_folder(kind: str, tmp_path: Path) -> None:
    source_a, source_b = _sources(kind, tmp_path)
    saver = Saver(kind, tmp_path / "saver.log")
    # The three folders share their name: a model card names the folder it was saved to.
    old, new = tmp_path / "old" / "target", tmp_path / "new" / "target"
    assert saver.save(source_a, old)[0] == 0  # the old folder, written as a save writes it
    for _ in range(2):  # the new content saved over the old, not killed; counted on the second save, as the first
        shutil.rmtree(new, ignore_errors=True)  # may also write the source's own caches (datasets)
        shutil.copytree(old, new)
        status, points = saver.save(source_b, new)
        assert status == 0 and points is not None
    expected = {"old": _snapshot(old), "new": _snapshot(new)}
    assert expected["old"] != expected["new"] and points >= 3

    target = tmp_path / "target"
    kill_points = sorted({1, 2, points // 3, (2 * points) // 3, points - 1, points})
    seen = set()
    for kill_at in kill_points:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(old, target)
        assert saver.save(source_b, target, kill_at) == (-signal.SIGKILL, None)  # killed, not finished
        state = _snapshot(target)
        assert state in expected.values(), f"killed at change {kill_at} of {points}: a mixed or partial folder"
        seen.add("old" if state == expected["old"] else "new")
        leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".target.")]
        assert all(p.name.endswith(".incomplete") for p in leftovers)  # hidden, never taken for the folder
        for leftover in leftovers:  # the next save would remove them; here they would shift the kill points
            shutil.rmtree(leftover)
        if kind != "dataset":
            BiLSTMClassifier.from_pretrained(target)  # and it loads
    saver.close()
    assert seen == {"old", "new"}  # the kill points cover both sides of the swap


def test_save_keeps_other_files_but_drops_the_old_models_card_and_metrics(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    _model(0, LINES).save_pretrained(folder)
    (folder / "metrics.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    (folder / "extra").mkdir()
    (folder / "extra" / "a.txt").write_text("also mine")
    _model(1, LINES).save_pretrained(folder)
    names = {p.name for p in folder.iterdir()}
    assert names == {"config.json", "model.safetensors", "tokenizer.json", "README.md", "notes.txt", "extra"}
    assert (folder / "extra" / "a.txt").read_text() == "also mine"
    assert not [p for p in tmp_path.iterdir() if p.name != "m"]  # no temporary sibling left behind


def test_dataset_folder_rebuilt_with_fewer_splits_keeps_no_stale_shard(tmp_path: Path) -> None:
    dd = datasets.DatasetDict(
        {s: datasets.Dataset.from_dict({"text": ["a"], "label": [0]}) for s in ("train", "validation", "test")}
    )
    save_dataset(dd, tmp_path / "ds")
    save_dataset(datasets.DatasetDict({"train": dd["train"]}), tmp_path / "ds")
    assert sorted(p.name for p in (tmp_path / "ds" / "data").iterdir()) == ["train-00000-of-00001.parquet"]


def test_a_failed_block_leaves_the_old_folder_and_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(tmp_path / "f") as tmp:
        (tmp / "a").write_text("new, half")
        raise RuntimeError("disk full")
    assert (tmp_path / "f" / "a").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_run_folder_is_written_with_its_card_rendered_once(tmp_path: Path, monkeypatch) -> None:
    from movie_gender.hub import folder_cards
    from movie_gender.hub.model_folder import write_outputs
    from movie_gender.training.run_record import RunRecord

    outputs = _outputs(0)
    outputs["metrics"]["examples"] = [{"text": LINES[0], "label": "female"}]
    rendered = []
    real = folder_cards.scored_card
    monkeypatch.setattr(folder_cards, "scored_card", lambda *a, **k: rendered.append(a) or real(*a, **k))
    write_outputs(tmp_path / "run", _model(0, LINES), RunRecord.from_dict(outputs["metrics"]), outputs["scores"])
    assert len(rendered) == 1  # one card, its example lines scored once, showing the plots written before it
    card = (tmp_path / "run" / "README.md").read_text()
    assert "roc_curve.png" in card and "confusion_matrix.png" in card
