"""Conversations and context: both sources agree, the context holds only other speakers' lines in the order spoken,
the K option, unknown-gender lines as context and as output, and the bad input of movie_conversations.txt."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from datasets import load_dataset

from movie_gender import build_dataset, load_cornell
from movie_gender.configuration import CorpusSource, DataOptions
from movie_gender.data.corpus import read_corpus
from movie_gender.data.dataset import prepare_dataset
from movie_gender.errors import CorpusFormatError
from movie_gender.hub.dataset_cards import render_dataset_card
from movie_gender.hub.dataset_folder import save_dataset
from tests.factories import SEP, write_corpus_folder, zip_folder


def _reference(lines: list[str], conversations: list[str], size: int) -> dict[str, tuple[str, int, list[str]]]:
    """line id -> (conversation_id, turn, context), the obvious way, from the files."""
    fields = {line.split(SEP)[0]: line.split(SEP) for line in lines}
    out = {}
    for row in conversations:
        movie, ids = row.split(SEP)[2], [i for i in ast.literal_eval(row.split(SEP)[3]) if i in fields]
        for turn, line_id in enumerate(ids):
            speaker = fields[line_id][1]
            before = [fields[i][4] for i in ids[:turn] if fields[i][1] != speaker][::-1][:size][::-1]
            after = [fields[i][4] for i in ids[turn + 1 :] if fields[i][1] != speaker][:size]
            out[line_id] = (f"{movie}:{ids[0]}", turn, before + after)
    return out


def _by_line(ds) -> dict[str, tuple[str, int, list[str]]]:
    return {r["line_id"]: (r["conversation_id"], r["turn"], r["context"]) for r in ds}


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_context_holds_other_speakers_lines_in_order(dialogue_folder: Path, dialogue_files, size: int) -> None:
    lines, _, conversations = dialogue_files
    ds = load_cornell(dialogue_folder, context_size=size)
    expected = _reference(lines, conversations, size)
    got = _by_line(ds)
    assert got == {line_id: expected[line_id] for line_id in got}
    assert all(len(c) <= 2 * size for c in ds["context"])
    if size in (1, 2):  # the fixture's conversations are long enough for these to fill up somewhere
        assert max(len(c) for c in ds["context"]) == 2 * size


def test_derived_conversations_match_the_official_file(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    official, official_stats = read_corpus(write_corpus_folder(tmp_path / "with", lines, characters, conversations))
    derived, derived_stats = read_corpus(write_corpus_folder(tmp_path / "without", lines, characters))
    assert official_stats.conversations_source == "movie_conversations.txt"
    assert derived_stats.conversations_source == "line-id adjacency"
    assert official_stats.conversations == derived_stats.conversations == len(conversations)
    assert official.to_dict() == derived.to_dict()


def test_the_official_file_decides_when_ids_do_not(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    k = next(i for i, c in enumerate(conversations) if len(ast.literal_eval(c.split(SEP)[3])) >= 4)
    head, ids = conversations[k].split(SEP)[:3], ast.literal_eval(conversations[k].split(SEP)[3])
    # Two conversations back to back with no gap in the ids: only the file can tell them apart.
    two = [SEP.join(head + [str(ids[:2])]), SEP.join(head + [str(ids[2:])])]
    folder = write_corpus_folder(tmp_path / "c", lines, characters, conversations[:k] + two + conversations[k + 1 :])
    official = _by_line(load_cornell(folder, include_unknown=True))
    derived = _by_line(load_cornell(write_corpus_folder(tmp_path / "d", lines, characters), include_unknown=True))
    movie = head[2]
    assert [official[i][:2] for i in ids] == (
        [(f"{movie}:{ids[0]}", t) for t in range(2)] + [(f"{movie}:{ids[2]}", t) for t in range(len(ids) - 2)]
    )
    assert [derived[i][:2] for i in ids] == [(f"{movie}:{ids[0]}", t) for t in range(len(ids))]


def test_zip_with_conversations_file(tmp_path: Path, dialogue_folder: Path) -> None:
    archive = zip_folder(dialogue_folder, tmp_path / "corpus.zip")
    assert load_cornell(archive).to_dict() == load_cornell(dialogue_folder).to_dict()
    assert read_corpus(archive)[1].conversations_source == "movie_conversations.txt"


def test_context_includes_unknown_gender_speakers_and_their_lines_can_be_kept(
    dialogue_folder: Path, dialogue_files
) -> None:
    lines, characters, _ = dialogue_files
    narrator_texts = {line.split(SEP)[4] for line in lines if line.split(SEP)[3] == "NARRATOR"}
    labelled = load_cornell(dialogue_folder)
    assert "NARRATOR" not in labelled["character_name"]
    assert any(text in narrator_texts for context in labelled["context"] for text in context)
    everything, stats = read_corpus(CorpusSource(dialogue_folder, include_unknown=True))
    assert len(everything) == len(lines) and stats.include_unknown
    narrator = everything.filter(lambda r: r["character_name"] == "NARRATOR")
    assert set(narrator["label"]) == {-1} and len(narrator) == len(narrator_texts) == stats.unknown_gender
    # Known-gender lines are the same rows with or without the unknown ones.
    assert everything.filter(lambda r: r["label"] >= 0).to_dict() == labelled.to_dict()
    assert everything.features["label"].names == ["male", "female"]


def test_lines_the_file_does_not_list_are_conversations_of_their_own(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    listed = ast.literal_eval(conversations[1].split(SEP)[3])
    folder = write_corpus_folder(tmp_path / "c", lines, characters, conversations[:1] + conversations[2:])
    ds, stats = read_corpus(folder)
    rows = _by_line(ds)
    assert stats.lines_outside_conversations == len(listed)
    for line_id in (i for i in listed if i in rows):
        assert rows[line_id] == (f"m0:{line_id}", 0, [])


def test_sample_zip_derives_conversations(sample_zip: Path) -> None:
    ds, stats = read_corpus(sample_zip)
    assert stats.conversations_source == "line-id adjacency" and stats.context_size == 2
    assert 5_000 < stats.conversations < 12_000
    first = ds[0]  # L1045, BIANCA: "They do not!", answered by CAMERON's "They do to!" just before it
    assert (first["line_id"], first["text"], first["context"][-1]) == ("L1045", "They do not!", "They do to!")
    assert all(len(c) <= 4 for c in ds["context"][:1000])


def test_collated_file_derives_conversations(tmp_path: Path, dialogue_folder: Path, dialogue_files) -> None:
    lines, characters, _ = dialogue_files
    gender = {c.split(SEP)[0]: c.split(SEP)[4] for c in characters}
    collated = tmp_path / "collated.txt"
    rows = [SEP.join(line.split(SEP)[:4] + [gender[line.split(SEP)[1]], line.split(SEP)[4], "1"]) for line in lines]
    collated.write_bytes("\n".join(rows).encode("latin-1"))
    assert load_cornell(collated).to_dict() == load_cornell(dialogue_folder).to_dict()


def test_context_size_must_be_a_non_negative_integer(dialogue_folder: Path) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="context_size must be an integer >= 0"):
            load_cornell(dialogue_folder, context_size=bad)


# --- The columns travel through the DatasetDict, the card, save and load_dataset ---------------------------------


def test_columns_survive_build_save_and_load_dataset(tmp_path: Path, dialogue_folder: Path) -> None:
    dd, report = prepare_dataset(dialogue_folder, DataOptions(split="random", context_size=1))
    assert dd["train"].column_names[-3:] == ["conversation_id", "turn", "context"]
    out = save_dataset(dd, tmp_path / "ds", report)
    card = (out / "README.md").read_text()
    assert "movie_conversations.txt" in card and "up to 1 line" in card and "name: context" in card
    loaded = load_dataset(str(out))
    for split in dd:
        assert loaded[split].features == dd[split].features
        assert loaded[split].to_dict() == dd[split].to_dict()
    assert max(len(c) for c in loaded["test"]["context"]) <= 2


def test_card_says_when_conversations_were_derived(dialogue_files, tmp_path: Path) -> None:
    lines, characters, _ = dialogue_files
    dd, report = prepare_dataset(write_corpus_folder(tmp_path / "c", lines, characters), DataOptions(split="random"))
    assert "line-id adjacency" in render_dataset_card(dd, report)
    assert report.corpus["conversations_source"] == "line-id adjacency"


def test_build_dataset_passes_context_size(dialogue_folder: Path) -> None:
    dd = build_dataset(dialogue_folder, split="random", context_size=0)
    assert all(c == [] for c in dd["train"]["context"])


# --- Bad lines in movie_conversations.txt -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, message",
    [
        ("u0 +++$+++ u1 +++$+++ m0", r"movie_conversations.txt:3: expected 4 fields"),
        (
            "u0 +++$+++ u1 +++$+++ m0 +++$+++ L1, L2",
            r"movie_conversations.txt:3: expected the conversation's line ids as",
        ),
        (
            "u0 +++$+++ u1 +++$+++ m0 +++$+++ []",
            r"movie_conversations.txt:3: expected the conversation's line ids as a",
        ),
        (
            "u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L1', 'L2'",
            r"movie_conversations.txt:3: expected the conversation's line",
        ),
    ],
)
def test_malformed_conversation_lines(tmp_path: Path, dialogue_files, bad: str, message: str) -> None:
    lines, characters, conversations = dialogue_files
    folder = write_corpus_folder(tmp_path / "c", lines, characters, conversations[:2] + [bad] + conversations[2:])
    with pytest.raises(CorpusFormatError, match=message):
        load_cornell(folder)
    ds, stats = read_corpus(CorpusSource(folder, skip_bad_lines=True))
    assert stats.skipped_bad_lines == 1 and "movie_conversations.txt:3" in stats.skipped_examples[0]
    assert (
        ds.to_dict() == load_cornell(write_corpus_folder(tmp_path / "ok", lines, characters, conversations)).to_dict()
    )


def test_a_line_in_two_conversations(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    repeated = SEP.join(conversations[1].split(SEP)[:3] + [str(ast.literal_eval(conversations[1].split(SEP)[3])[-1:])])
    folder = write_corpus_folder(tmp_path / "c", lines, characters, conversations + [repeated])
    with pytest.raises(
        CorpusFormatError,
        match=rf"movie_conversations.txt:{len(conversations) + 1}: line id 'L\d+' is "
        r"already in the conversation on line 2",
    ):
        load_cornell(folder)
    ds, stats = read_corpus(CorpusSource(folder, skip_bad_lines=True))
    assert stats.skipped_bad_lines == 1
    assert (
        ds.to_dict() == load_cornell(write_corpus_folder(tmp_path / "ok", lines, characters, conversations)).to_dict()
    )


def test_a_conversation_listing_a_line_of_another_movie(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    fields = conversations[1].split(SEP)
    wrong = SEP.join(fields[:2] + ["m5"] + fields[3:])
    folder = write_corpus_folder(tmp_path / "c", lines, characters, [conversations[0], wrong] + conversations[2:])
    with pytest.raises(
        CorpusFormatError,
        match=r"movie_conversations.txt:2: conversation of movie 'm5' lists 'L\d+', a line of "
        r"movie 'm0'",
    ):
        load_cornell(folder)
    ds, stats = read_corpus(CorpusSource(folder, skip_bad_lines=True))
    assert stats.skipped_bad_lines == 1 and stats.lines_outside_conversations == len(ast.literal_eval(fields[3]))


def test_conversations_file_must_be_iso_8859_1_like_the_others(tmp_path: Path, dialogue_files) -> None:
    lines, characters, conversations = dialogue_files
    folder = write_corpus_folder(tmp_path / "c", lines, characters, conversations)
    target = folder / "cornell movie-dialogs corpus" / "movie_conversations.txt"
    target.write_bytes(target.read_bytes() + "u0 +++$+++ u1 +++$+++ m0 +++$+++ ['L\u00e9']\n".encode("utf-8"))
    with pytest.raises(CorpusFormatError, match=r"movie_conversations.txt:\d+: the file is UTF-8"):
        load_cornell(folder)
    shutil.rmtree(folder)
