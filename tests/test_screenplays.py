"""Screenplays in: Fountain (and plain-text screenplays in the conventional layout) give speakers from the character
cues (extensions and dual-dialogue carets stripped), lines from their dialogue (parentheticals left out) and
conversations from the scenes; `predict --screenplay --by character` and `label-characters --screenplay` score
them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from movie_gender.cli import main as cli_main
from movie_gender.data.corpus import load_screenplays, read_screenplays_table
from movie_gender.data.screenplay import ScreenplayError, parse_screenplay
from tests.factories import SEP, synthetic_corpus, train_small_model

FOUNTAIN = """Title: The Garage
Author: A. Writer

FADE IN:

INT. KITCHEN - NIGHT

MARY enters. She looks at JOHN.

MARY
(quietly)
Darling, where is my *lovely* dress?

JOHN (V.O.)
I sold it for a gun,
and a car.

MARY (CONT'D)
You did what?
(beat)
Honey, that was my mother's dress.

CUT TO:

EXT. GARAGE - DAY

PETE
Sir, the car is ready, boss.

JOHN
Good, buddy. Beer?

MARY ^
No! My sweet baby!

@McCLANE
Yippee ki-yay, buddy.

.FLASHBACK

JOHN (O.S.) (CONT'D)
The gun, the money.
"""

EXPECTED = [
    ("MARY", "Darling, where is my lovely dress?", 1),
    ("JOHN", "I sold it for a gun, and a car.", 1),
    ("MARY", "You did what? Honey, that was my mother's dress.", 1),
    ("PETE", "Sir, the car is ready, boss.", 2),
    ("JOHN", "Good, buddy. Beer?", 2),
    ("MARY", "No! My sweet baby!", 2),
    ("McCLANE", "Yippee ki-yay, buddy.", 2),
    ("JOHN", "The gun, the money.", 3),
]

# The same screenplay as a plain-text file in the conventional layout: indented cues and dialogue, numbered scene
# headings, a page number.
PLAIN = """                                                            1.

1    INT. KITCHEN - NIGHT                                          1

     MARY enters. She looks at JOHN.

                         MARY
                    (quietly)
               Darling, where is my lovely dress?

                         JOHN (V.O.)
               I sold it for a gun,
               and a car.

                         MARY (CONT'D)
               You did what?
                    (beat)
               Honey, that was my mother's dress.
"""


def test_a_fountain_screenplay_gives_speakers_lines_and_scenes() -> None:
    speeches = parse_screenplay(FOUNTAIN)
    assert [(s.name, s.text, s.scene) for s in speeches] == EXPECTED


def test_the_table_has_a_conversation_per_scene_and_context_within_it(tmp_path: Path) -> None:
    (tmp_path / "garage.fountain").write_text(FOUNTAIN)
    table, stats = read_screenplays_table([tmp_path / "garage.fountain"], context_size=1)
    rows = table.to_pylist()
    assert [r["character_id"] for r in rows] == [f"garage:{name.upper()}" for name, _, _ in EXPECTED]
    assert [r["conversation_id"] for r in rows] == ["garage:scene-1"] * 3 + ["garage:scene-2"] * 4 + ["garage:scene-3"]
    assert [r["turn"] for r in rows] == [0, 1, 2, 0, 1, 2, 3, 0]
    assert {r["movie_id"] for r in rows} == {"garage"} and {r["label"] for r in rows} == {-1}
    assert rows[4]["context"] == [EXPECTED[3][1], EXPECTED[5][1]]  # JOHN in the garage: PETE before, MARY after
    assert rows[7]["context"] == []  # alone in his scene
    assert stats.conversations == 3 and stats.characters == 4


def test_a_plain_text_screenplay_parses_as_fountain_does(tmp_path: Path) -> None:
    assert [(s.name, s.text, s.scene) for s in parse_screenplay(PLAIN)] == EXPECTED[:3]


def test_globs_and_folders_make_one_movie_per_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.fountain").write_text(FOUNTAIN)
    (tmp_path / "a" / "two.txt").write_text(PLAIN)
    (tmp_path / "a" / "notes.md").write_text("not a screenplay")
    by_folder = load_screenplays([tmp_path / "a"])
    by_glob = load_screenplays([str(tmp_path / "a" / "*.fountain"), str(tmp_path / "a" / "*.txt")])
    assert by_folder["line_id"] == by_glob["line_id"]
    assert sorted(set(by_folder["movie_id"])) == ["one", "two"]
    assert "one:JOHN" in by_folder["character_id"] and "two:JOHN" in by_folder["character_id"]


def test_bad_screenplay_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScreenplayError, match=r"nothing\*\.fountain: no screenplay files"):
        load_screenplays([str(tmp_path / "nothing*.fountain")])
    (tmp_path / "latin.fountain").write_bytes("INT. CAF\xc9 - DAY\n\nMARY\nOui.\n".encode("latin-1"))
    with pytest.raises(ScreenplayError, match=r"latin\.fountain:1: not UTF-8"):
        load_screenplays([tmp_path / "latin.fountain"])
    (tmp_path / "action.fountain").write_text("INT. ROOM - DAY\n\nNobody talks.\n")
    with pytest.raises(ScreenplayError, match="no dialogue in any screenplay"):
        load_screenplays([tmp_path / "action.fountain"])


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A tiny model trained on the synthetic corpus, whose female characters favour words like darling, dress and
    honey, and male ones sir, gun and car."""
    records = [line.split(SEP) for line in synthetic_corpus(n_movies=6)[0]]
    spoken = [(text, int(name == "MARY")) for _, _, _, name, text in records if name != "NARRATOR"]
    model = train_small_model([text for text, _ in spoken], [label for _, label in spoken], steps=60)
    folder = tmp_path_factory.mktemp("model") / "tiny"
    model.save_pretrained(folder)
    return folder


def _cli(*args) -> int:
    try:
        cli_main([*map(str, args)])
    except SystemExit as exit_info:
        return exit_info.code
    return 0


def test_predict_screenplay_by_character(model_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "garage.fountain").write_text(FOUNTAIN)
    out = tmp_path / "characters.jsonl"
    assert (
        _cli("predict", model_folder, "--screenplay", tmp_path / "scripts", "--by", "character", "--output", out) == 0
    )
    rows = {r["character_name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {name: r["n_lines"] for name, r in rows.items()} == {"MARY": 3, "JOHN": 3, "PETE": 1, "McCLANE": 1}
    assert {r["movie_id"] for r in rows.values()} == {"garage"}
    assert all(0 < r["p_female"] < 1 for r in rows.values())
    assert rows["MARY"]["p_female"] > max(rows[name]["p_female"] for name in ("JOHN", "PETE", "McCLANE"))
    assert rows["MARY"]["corpus_label"] is None  # a screenplay gives no gender


def test_label_characters_from_screenplays_and_outputs_that_would_touch_them(
    model_folder: Path, tmp_path: Path, capsys
) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "garage.fountain").write_text(FOUNTAIN)
    out = tmp_path / "labelled"
    assert _cli("label-characters", model_folder, "--screenplay", str(scripts / "*.fountain"), "--output", out) == 0
    table = pq.read_table(out / "data" / "train-00000-of-00001.parquet")
    assert table.num_rows == 4 and set(table["label_source"].to_pylist()) == {"predicted"}
    ck = tmp_path / "labelled-convokit"
    assert _cli("label-characters", model_folder, "--screenplay", scripts, "--format", "convokit", "--output", ck) == 0
    speakers = json.loads((ck / "speakers.json").read_text())
    assert set(speakers) == {"garage:MARY", "garage:JOHN", "garage:PETE", "garage:MCCLANE"}
    assert all({"p_female", "predicted_label", "label", "label_source"} <= set(e["meta"]) for e in speakers.values())
    before = (scripts / "garage.fountain").read_bytes()
    capsys.readouterr()
    for command in (
        [
            "label-characters",
            model_folder,
            "--screenplay",
            str(scripts / "*.fountain"),
            "--output",
            scripts / "x.fountain",
        ],
        ["predict", model_folder, "--screenplay", scripts, "--output", scripts / "c.parquet"],
        ["predict", model_folder, "--screenplay", scripts, "--output", scripts / "c.csv"],
        ["label-characters", model_folder, "--screenplay", scripts / "garage.fountain", "--output", tmp_path],
    ):
        assert _cli(*command) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith("error: ") and "refused as the output" in err and err.strip().endswith("write it elsewhere")
        )
        assert len(err.strip().splitlines()) == 1  # refused before any work: no progress bar either
    assert (scripts / "garage.fountain").read_bytes() == before
    assert sorted(p.name for p in scripts.iterdir()) == ["garage.fountain"]
