"""Screenplays in: Fountain files (``.fountain``) and plain-text screenplays in the conventional layout, parsed by
the ``screenplay-tools`` library (its Fountain parser; the conventional layout parses as Fountain does), into the
table of lines every source gives (:mod:`movie_gender.data.assembly`).

- Each file is a group (movie), named by its file name without the extension (by its path where two share a name).
- Each character cue starts a line of dialogue: its dialogue, parentheticals left out, wrapped lines joined with a
  space and Fountain's emphasis markers (``*``, ``_``) removed. The speaker is the cue's name without its
  extensions (``(V.O.)``, ``(O.S.)``, ``(CONT'D)``) or the ``^`` of dual dialogue (both speeches are kept, left
  then right); the character id is ``MOVIE:NAME`` (upper case), so two files' JOHNs are two characters.
- Each scene (from one scene heading to the next; before the first, the opening) is a conversation, giving
  ``turn`` and ``context``; its id is ``MOVIE:scene-K`` (K = 0 for the opening, 1 for the first heading, ...).
- No screenplay says its characters' gender: every line has label -1 (unknown), for prediction.

What the library misses is done here: leading and trailing scene numbers of a plain-text heading (``12  INT. HOUSE
- DAY  12``) are removed before parsing, speeches interrupted by a parenthetical are joined into one line, and
only a heading that is forced (``.FLASHBACK``) or starts like one (INT., EXT., EST., INT./EXT., I/E) starts a scene
(the library also reads a ``FADE IN:`` after the title page as a heading).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from movie_gender.data.assembly import Lines
from movie_gender.data.conversations import Conversations
from movie_gender.errors import InputFormatError

logger = logging.getLogger(__name__)

SUFFIXES = (".fountain", ".spmd", ".txt")
SOURCE = "screenplay scenes"
_GLOB = re.compile(r"[*?\[]")
_NUMBERED_HEADING = re.compile(r"^\s*(\d+[A-Z]?)\s+((?:INT|EXT|EST|INT\./EXT|INT/EXT|I/E)[ .].*?)\s+\1\s*$")
_HEADING = re.compile(r"^\s*(INT|EXT|EST|INT\./EXT|INT/EXT|I/E)[ .]", re.IGNORECASE)
_EMPHASIS = re.compile(r"\*+|(?<!\w)_|_(?!\w)")


class ScreenplayError(InputFormatError):
    """A screenplay file cannot be read."""


def screenplay_files(patterns: list[str | os.PathLike]) -> list[Path]:
    """The files of each pattern, in name order: a file, a folder (its .fountain, .spmd and .txt files, recursively)
    or a glob; a pattern that names nothing is an error."""
    files: list[Path] = []
    for pattern in patterns:
        text = str(pattern)
        if _GLOB.search(text):
            found = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
        elif Path(text).is_dir():
            found = sorted(p for p in Path(text).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            found = [Path(text)] if Path(text).is_file() else []
        if not found:
            raise ScreenplayError(text, "no screenplay files (.fountain, .spmd or .txt) there")
        files += [p for p in found if p not in files]
    return files


@dataclass
class Speech:
    """One line of dialogue: who says it, what, and the scene it is in (0: before the first heading)."""

    name: str
    text: str
    scene: int


def _clean(text: str) -> str:
    """One line of dialogue text: wrapped lines joined, emphasis markers removed, spaces collapsed."""
    return " ".join(_EMPHASIS.sub("", text).split())


def parse_screenplay(text: str) -> list[Speech]:
    """The speeches of one screenplay, in order (see the module's docstring for the rules)."""
    from screenplay_tools.fountain.parser import Parser
    from screenplay_tools.screenplay import ElementType

    lines = [_NUMBERED_HEADING.sub(r"\2", line) for line in text.replace("\r\n", "\n").split("\n")]
    parser = Parser()
    parser.add_lines(lines)
    speeches: list[Speech] = []
    scene = 0
    speaker: str | None = None
    parts: list[str] = []

    def close() -> None:
        said = _clean(" ".join(parts))
        if speaker is not None and said:
            speeches.append(Speech(speaker, said, scene))

    for element in parser.script.elements:
        if element.type == ElementType.CHARACTER:
            close()
            speaker, parts = element.name.strip(), []
        elif element.type == ElementType.DIALOGUE and speaker is not None:
            parts.append(element.text)
        elif element.type != ElementType.PARENTHETICAL:
            close()
            speaker, parts = None, []
            scene += element.type == ElementType.HEADING and (element.forced or bool(_HEADING.match(element.text)))
    close()
    return speeches


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ScreenplayError(path, f"not UTF-8 ({error.reason}); re-save the screenplay as UTF-8", line) from None


def _movie_names(files: list[Path]) -> list[str]:
    """Each file's group: its name without the extension, or its path without it where two names clash."""
    stems = [p.stem for p in files]
    return [s if stems.count(s) == 1 else str(p.with_suffix("")) for s, p in zip(stems, files, strict=True)]


def read_screenplays(patterns: list[str | os.PathLike]) -> Lines:
    """The lines of the screenplays that ``patterns`` name (:func:`screenplay_files`)."""
    files = screenplay_files(patterns)
    ids: list[str] = []
    movies: list[str] = []
    speakers: list[str] = []
    names: list[str] = []
    texts: list[str] = []
    scenes: list[int] = []
    local: list[int] = []
    for path, movie in zip(files, _movie_names(files), strict=True):
        speeches = parse_screenplay(_read_text(path))
        if not speeches:
            logger.warning("%s: no dialogue found (no character cue followed by dialogue)", path)
        offset = scenes[-1] + 1 if scenes else 0
        for k, speech in enumerate(speeches):
            ids.append(f"{movie}:{k + 1}")
            movies.append(movie)
            speakers.append(f"{movie}:{speech.name.upper()}")
            names.append(speech.name)
            texts.append(speech.text)
            scenes.append(offset + speech.scene)
            local.append(speech.scene)
    if not ids:
        raise ScreenplayError(", ".join(map(str, patterns)), "no dialogue in any screenplay")
    _, first, conversation = np.unique(np.asarray(scenes), return_index=True, return_inverse=True)
    scene_ids = [f"{movies[i]}:scene-{local[i]}" for i in first]
    logger.info("Read %s lines of %s characters from %s screenplays", len(ids), len(set(speakers)), len(files))
    return Lines(
        line_id=pa.array(ids, pa.string()),
        movie_id=pa.array(movies, pa.string()),
        character_id=pa.array(speakers, pa.string()),
        character_name=pa.array(names, pa.string()),
        text=pa.array(texts, pa.string()),
        gender=np.full(len(ids), -1, dtype=np.int64),
        conversations=Conversations(np.arange(len(ids)), conversation.reshape(-1).astype(np.int64), SOURCE),
        conversation_ids=pa.array(scene_ids, pa.string()),
    )


__all__ = ["SOURCE", "ScreenplayError", "Speech", "parse_screenplay", "read_screenplays", "screenplay_files"]
