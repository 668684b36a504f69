"""ConvoKit corpora in and out: `--corpus` reads a ConvoKit folder (utterances, speakers' gender field and map,
groups, reply order) into the same table the upstream files give; `label-characters --format convokit` writes a
folder in the format of tests/fixtures/convokit_reference (dumped by ConvoKit's own Corpus.dump, see
scripts/make_convokit_fixture.py) whose speakers carry the four label fields."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from movie_gender import BiLSTMClassifier, BiLSTMConfig, build_dataset, load_cornell, train_tokenizer
from movie_gender.cli import main as cli_main
from movie_gender.configuration import CorpusSource
from movie_gender.data.convokit_writer import convert_corpus
from movie_gender.data.corpus import content_fingerprint, read_corpus_table
from movie_gender.errors import CorpusFormatError
from tests.factories import synthetic_dialogues, write_corpus_folder

REFERENCE = Path(__file__).parent / "fixtures" / "convokit_reference"
FILES = {"utterances.jsonl", "speakers.json", "conversations.json", "corpus.json", "index.json"}


def _utterances(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "utterances.jsonl").read_text().splitlines() if line.strip()]


def _write(folder: Path, utterances: list[dict], speakers: dict, conversations: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utterances.jsonl").write_text("".join(json.dumps(u) + "\n" for u in utterances))
    (folder / "speakers.json").write_text(json.dumps(speakers))
    if conversations is not None:
        (folder / "conversations.json").write_text(json.dumps(conversations))
    return folder


def _utterance(uid: str, speaker: str, conversation: str, reply: str | None, text: str, **meta) -> dict:
    return {"id": uid, "speaker": speaker, "conversation_id": conversation, "reply-to": reply, "timestamp": None,
            "text": text, "meta": meta}  # fmt: skip


@pytest.fixture(scope="module")
def dialogues(tmp_path_factory) -> Path:
    """A Cornell corpus folder with movie_conversations.txt."""
    return write_corpus_folder(tmp_path_factory.mktemp("cornell"), *synthetic_dialogues())


@pytest.fixture(scope="module")
def dialogues_convokit(tmp_path_factory, dialogues: Path) -> Path:
    return convert_corpus(dialogues, tmp_path_factory.mktemp("convokit") / "corpus")


# --- reading ------------------------------------------------------------------------------------------------------


def test_the_reference_corpus_dumped_by_convokit_reads_as_lines_speakers_and_conversations() -> None:
    table, stats = read_corpus_table(CorpusSource(REFERENCE, include_unknown=True))
    rows = table.to_pylist()
    assert [r["line_id"] for r in rows] == ["L194", "L195", "L196", "L300", "L301"]
    assert [r["movie_id"] for r in rows] == ["m0", "m0", "m0", "m1", "m1"]  # the utterances' meta.movie_id
    assert [r["character_name"] for r in rows] == ["BIANCA", "CAMERON", "BIANCA", "GUARD", "KAT"]
    assert [r["label"] for r in rows] == [1, 0, 1, -1, 1]  # f, m, f, ?, F
    assert [r["conversation_id"] for r in rows] == ["m0:L194"] * 3 + ["m1:L300"] * 2
    assert [r["turn"] for r in rows] == [0, 1, 2, 0, 1]
    assert rows[1]["context"] == [rows[0]["text"], rows[2]["text"]]
    assert rows[0]["context"] == [rows[1]["text"]]  # the speaker's own lines are not context
    assert stats.conversations == 2 and stats.unknown_gender == 1
    known = load_cornell(REFERENCE)  # the Python API too; unknown gender left out by default
    assert known["line_id"] == ["L194", "L195", "L196", "L301"]


@pytest.mark.parametrize("with_file", [True, False])
def test_a_converted_cornell_corpus_gives_the_same_table_and_fingerprints(tmp_path: Path, with_file: bool) -> None:
    lines, characters, conversations = synthetic_dialogues()
    cornell = write_corpus_folder(tmp_path / "cornell", lines, characters, conversations if with_file else None)
    convokit = convert_corpus(cornell, tmp_path / "convokit")
    for include_unknown in (False, True):
        a, stats_a = read_corpus_table(CorpusSource(cornell, include_unknown=include_unknown))
        b, _ = read_corpus_table(CorpusSource(convokit, include_unknown=include_unknown))
        assert a.equals(b)
        assert content_fingerprint(a) == content_fingerprint(b)
    assert stats_a.conversations_source == ("movie_conversations.txt" if with_file else "line-id adjacency")
    ours, theirs = build_dataset(cornell, seed=3), build_dataset(convokit, seed=3)
    assert {k: v._fingerprint for k, v in ours.items()} == {k: v._fingerprint for k, v in theirs.items()}
    assert ours["test"]["text"] == theirs["test"]["text"]


def test_reply_order_gives_turns_and_context_whatever_the_file_order(tmp_path: Path) -> None:
    speakers = {"a": {"meta": {"gender": "f"}, "vectors": []}, "b": {"meta": {"gender": "m"}, "vectors": []}}
    chain = [
        _utterance(f"x{i}", "ab"[i % 2], "x0", f"x{i - 1}" if i else None, f"line {i}", movie_id="m") for i in range(4)
    ]
    folder = _write(tmp_path / "ck", chain[::-1], speakers)  # newest first, as Cornell's movie_lines.txt
    table, _ = read_corpus_table(folder)
    turns = dict(zip(table["line_id"].to_pylist(), table["turn"].to_pylist(), strict=True))
    assert turns == {"x0": 0, "x1": 1, "x2": 2, "x3": 3}
    by_id = {r["line_id"]: r for r in table.to_pylist()}
    assert by_id["x1"]["context"] == ["line 0", "line 2"]
    timed = [dict(u, timestamp=10 - i, **{"reply-to": None}) for i, u in enumerate(chain)]  # no replies: by time
    table, _ = read_corpus_table(_write(tmp_path / "timed", timed, speakers))
    assert dict(zip(table["line_id"].to_pylist(), table["turn"].to_pylist(), strict=True)) == {
        "x0": 3, "x1": 2, "x2": 1, "x3": 0
    }  # fmt: skip


def test_gender_field_and_map_and_speakers_without_a_label(tmp_path: Path) -> None:
    speakers = {
        "a": {"meta": {"sex": "Female"}, "vectors": []},
        "b": {"meta": {"sex": "male"}, "vectors": []},
        "c": {"meta": {"sex": None}, "vectors": []},
        "d": {"meta": {}, "vectors": []},
    }
    utterances = [_utterance(f"u{i}", s, "u0", None, f"words {i}") for i, s in enumerate("abcd")]
    folder = _write(tmp_path / "ck", utterances, speakers)
    source = CorpusSource(folder, gender_field="sex", gender_map="female=f,male=m", include_unknown=True)
    table, stats = read_corpus_table(source)
    assert table["label"].to_pylist() == [1, 0, -1, -1]
    assert stats.unknown_gender == 2
    assert table["movie_id"].to_pylist() == ["ck"] * 4  # no group field anywhere: the folder's name
    with pytest.raises(CorpusFormatError, match=r"speakers\.json: speaker 'a': unknown sex value 'Female'"):
        read_corpus_table(CorpusSource(folder, gender_field="sex"))
    skipping = CorpusSource(folder, gender_field="sex", skip_bad_lines=True, include_unknown=True)
    skipped, stats = read_corpus_table(skipping)
    assert skipped["character_id"].to_pylist() == ["c", "d"]  # the lines of a and b are left out, counted
    assert stats.skipped_bad_lines == 2  # 'Female' and 'male'
    with pytest.raises(ValueError, match="VALUE=CODE"):
        read_corpus_table(CorpusSource(folder, gender_field="sex", gender_map="female:f"))


def test_groups_from_the_conversations_else_the_corpus_name(tmp_path: Path) -> None:
    speakers = {"a": {"gender": "f"}, "b": {"gender": "m"}}  # older corpora: the metadata itself
    utterances = [
        _utterance("u0", "a", "c0", None, "hello"),
        _utterance("u1", "b", "c0", "u0", "hi"),
        _utterance("u2", "a", "c1", None, "bye"),
    ]
    folder = _write(tmp_path / "ck", utterances, speakers, {"c0": {"meta": {"movie_id": "film"}, "vectors": []}})
    (folder / "corpus.json").write_text(json.dumps({"name": "talks"}))
    table, _ = read_corpus_table(folder)
    assert table["movie_id"].to_pylist() == ["film", "film", "talks"]
    assert table["conversation_id"].to_pylist() == ["film:c0", "film:c0", "talks:c1"]
    table, _ = read_corpus_table(CorpusSource(folder, group_field="show"))
    assert table["movie_id"].to_pylist() == ["talks"] * 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"utterances\.jsonl:3: not a JSON object"),
        ('["a list"]', r"utterances\.jsonl:3: expected a JSON object, found a list"),
        ('{"id": "u9", "speaker": "a", "conversation_id": "u9"}', r"utterances\.jsonl:3: utterance 'u9' has no 'text'"),
        ('{"id": "u0", "speaker": "a", "text": "again"}', r"utterances\.jsonl:3: utterance id 'u0' occurs twice"),
        ('{"speaker": "a", "text": "who?"}', r"utterances\.jsonl:3: the utterance has no 'id'"),
    ],
)
def test_a_bad_utterance_is_one_line_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    folder = _write(tmp_path / "ck", [_utterance("u0", "a", "u0", None, "x"), _utterance("u1", "b", "u0", "u0", "y")],
                    {"a": {"gender": "f"}, "b": {"gender": "m"}})  # fmt: skip
    with open(folder / "utterances.jsonl", "a") as stream:
        stream.write(line + "\n")
    with pytest.raises(CorpusFormatError, match=message):
        read_corpus_table(folder)
    table, stats = read_corpus_table(CorpusSource(folder, skip_bad_lines=True))
    assert table.num_rows == 2 and stats.skipped_bad_lines == 1


def test_a_broken_speakers_file_names_file_and_line(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ck", [_utterance("u0", "a", "u0", None, "x")], {})
    (folder / "speakers.json").write_text('{\n  "a": {"gender": "f"},\n  "b": \n}\n')
    with pytest.raises(CorpusFormatError, match=r"speakers\.json:4: not valid JSON"):
        read_corpus_table(folder)


# --- scoring --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def character_model(tmp_path_factory, dialogues: Path) -> Path:
    """An untrained (seeded) character model with a partner term and random bag weights: it reads lines, context
    and conversation partners, so equal scores mean equal inputs of every kind."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer(load_cornell(dialogues, include_unknown=True)["text"])
    config = BiLSTMConfig(
        vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=6, bigram_buckets=64, context_size=2,
        character_pooling="attention", character_partner_weight=0.75,
    )  # fmt: skip
    model = BiLSTMClassifier(config)
    for name, weights in model.named_parameters():
        if "bag" in name:
            torch.nn.init.normal_(weights, std=0.5)
    model.tokenizer = tokenizer
    folder = tmp_path_factory.mktemp("model") / "character-model"
    model.save_pretrained(folder)
    return folder


def _predict(*args) -> None:
    cli_main(["predict", *map(str, args)])


def test_predict_by_character_scores_a_convokit_copy_like_the_upstream_files(
    character_model: Path, dialogues: Path, dialogues_convokit: Path, tmp_path: Path
) -> None:
    _predict(character_model, "--corpus", dialogues, "--by", "character", "--output", tmp_path / "a.parquet")
    _predict(character_model, "--corpus", dialogues_convokit, "--by", "character", "--output", tmp_path / "b.parquet")
    a, b = pq.read_table(tmp_path / "a.parquet"), pq.read_table(tmp_path / "b.parquet")
    assert a.drop(["p_female"]).equals(b.drop(["p_female"]))
    np.testing.assert_allclose(a["p_female"].to_numpy(), b["p_female"].to_numpy(), atol=1e-6, rtol=0)
    assert a["corpus_label"].null_count > 0  # the unknown-gender speakers are scored too


# --- writing --------------------------------------------------------------------------------------------------------


def _types(value) -> str:
    return type(value).__name__


def _check_like_the_reference(folder: Path) -> None:
    """The folder follows the format of the folder ConvoKit's Corpus.dump wrote: the same files, the same keys with
    values of the same types in every record (the label fields aside), entries of {"meta", "vectors"}."""
    assert {p.name for p in folder.iterdir()} == FILES
    shapes = {tuple((k, _types(v)) for k, v in u.items()) for u in _utterances(REFERENCE)}
    assert len(shapes) == 2  # a first utterance (reply-to null) and a reply (reply-to a string)
    assert {tuple((k, _types(v)) for k, v in u.items()) for u in _utterances(folder)} == shapes
    for name in ("speakers.json", "conversations.json"):
        entries = json.loads((folder / name).read_text())
        theirs = json.loads((REFERENCE / name).read_text())
        assert {tuple(e) for e in entries.values()} == {tuple(e) for e in theirs.values()} == {("meta", "vectors")}
        assert all(isinstance(e["meta"], dict) and isinstance(e["vectors"], list) for e in entries.values())
    index, theirs = (json.loads((f / "index.json").read_text()) for f in (folder, REFERENCE))
    assert {k: _types(v) for k, v in index.items()} == {k: _types(v) for k, v in theirs.items()}
    assert index["version"] == theirs["version"]
    speakers = json.loads((folder / "speakers.json").read_text())
    for key in {k for e in speakers.values() for k in e["meta"]}:
        seen = {str(type(e["meta"][key])) for e in speakers.values() if key in e["meta"]}
        assert seen <= set(index["speakers-index"][key])  # the index lists the type of every value
    assert isinstance(json.loads((folder / "corpus.json").read_text()), dict)


def _label(*args) -> int:
    try:
        cli_main(["label-characters", *map(str, args)])
    except SystemExit as exit_info:
        return exit_info.code
    return 0


@pytest.mark.parametrize("source", ["cornell", "convokit"])
def test_label_characters_writes_a_convokit_corpus_whose_speakers_carry_the_labels(
    character_model: Path, dialogues: Path, dialogues_convokit: Path, tmp_path: Path, source: str
) -> None:
    corpus = dialogues if source == "cornell" else dialogues_convokit
    out = tmp_path / "labelled"
    assert _label(character_model, "--corpus", corpus, "--format", "convokit", "--output", out) == 0
    _check_like_the_reference(out)
    assert _label(character_model, "--corpus", corpus, "--output", tmp_path / "hub") == 0
    completed = pq.read_table(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet").to_pylist()
    speakers = {k: e["meta"] for k, e in json.loads((out / "speakers.json").read_text()).items()}
    for row in completed:
        meta = speakers[row["character_id"]]
        assert {k: meta[k] for k in ("predicted_label", "label", "label_source")} == {
            k: row[k] for k in ("predicted_label", "label", "label_source")
        }
        assert meta["p_female"] == pytest.approx(row["p_female"], abs=1e-12)
    if source == "convokit":  # copied through
        assert (out / "utterances.jsonl").read_bytes() == (corpus / "utterances.jsonl").read_bytes()
        assert (out / "conversations.json").read_text() == (corpus / "conversations.json").read_text()
    read_back, _ = read_corpus_table(CorpusSource(out, include_unknown=True))  # and it reads back as the corpus
    original, _ = read_corpus_table(CorpusSource(corpus, include_unknown=True))
    assert read_back.equals(original)


def test_convokit_output_refuses_push_and_paths_inside_its_input(
    character_model: Path, dialogues_convokit: Path, tmp_path: Path, capsys
) -> None:
    copy = shutil.copytree(dialogues_convokit, tmp_path / "ck")
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    assert _label(character_model, "--corpus", copy, "--format", "convokit", "--push", "o/r") == 2
    for output in (copy, copy / "labelled", tmp_path):
        assert _label(character_model, "--corpus", copy, "--format", "convokit", "--output", output) == 2
        assert "write it elsewhere" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before


def test_an_interrupted_write_leaves_no_corpus_that_looks_complete(
    character_model: Path, dialogues_convokit: Path, tmp_path: Path, monkeypatch, caplog
) -> None:
    import movie_gender.data.convokit_writer as writer

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_type_names", fail)  # fails after utterances.jsonl is written
    out = tmp_path / "labelled"
    with caplog.at_level(logging.ERROR):
        assert _label(character_model, "--corpus", dialogues_convokit, "--format", "convokit", "--output", out) == 2
    assert not out.exists() and not list(tmp_path.glob(".labelled*"))


def test_a_convokit_corpus_keeps_its_files_and_speaker_vectors(character_model: Path, tmp_path: Path) -> None:
    corpus = shutil.copytree(REFERENCE, tmp_path / "reference")
    speakers = json.loads((corpus / "speakers.json").read_text())
    speakers["u0"]["vectors"] = ["sbert"]
    (corpus / "speakers.json").write_text(json.dumps(speakers))
    out = tmp_path / "labelled"
    assert _label(character_model, "--corpus", corpus, "--format", "convokit", "--output", out) == 0
    for name in ("utterances.jsonl", "conversations.json"):
        assert (out / name).read_bytes() == (corpus / name).read_bytes()
    written = json.loads((out / "speakers.json").read_text())
    assert written["u0"]["vectors"] == ["sbert"] and written["u2"]["vectors"] == []
    for speaker, entry in written.items():
        assert {k: entry["meta"][k] for k in speakers[speaker]["meta"]} == speakers[speaker]["meta"]  # kept
        assert set(entry["meta"]) - set(speakers[speaker]["meta"]) == {
            "p_female",
            "predicted_label",
            "label",
            "label_source",
        }
    assert written["u10"]["meta"]["label_source"] == "predicted" and written["u0"]["meta"]["label"] == "female"
    assert json.loads((out / "corpus.json").read_text()) == {"name": "movie-gender reference"}
    _check_like_the_reference(out)


def test_the_dataset_card_names_the_convokit_conversations(dialogues_convokit: Path) -> None:
    from movie_gender.configuration import DataOptions
    from movie_gender.data.splitting import prepare_dataset
    from movie_gender.hub.dataset_cards import render_dataset_card

    dd, report = prepare_dataset(dialogues_convokit, DataOptions(split="random"))
    card = render_dataset_card(dd, report)
    assert "the ConvoKit corpus' own conversations" in card and "line-id adjacency" not in card


def test_evaluate_reads_a_convokit_corpus_with_the_reading_options_given(tmp_path: Path) -> None:
    from movie_gender.commands import evaluate

    (tmp_path / "model").mkdir()
    argv = [str(tmp_path / "model"), "--corpus", str(tmp_path), "--gender-field", "sex", "--gender-map", "female=f"]
    data = evaluate.data_options(evaluate.parse_args(argv))
    assert (data.gender_field, data.gender_map, data.group_field) == ("sex", "female=f", "movie_id")
    data = evaluate.data_options(evaluate.parse_args(argv[:3]))
    assert (data.gender_field, data.gender_map) == ("gender", None)
