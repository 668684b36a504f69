"""ConvoKit corpora in: a folder of ``utterances.jsonl``, ``speakers.json`` and, optionally, ``conversations.json``
and ``corpus.json`` (ConvoKit's documented format, as ``Corpus.dump`` writes it), read with the package's own
readers into the table of lines every source gives (:mod:`movie_gender.data.assembly`). ConvoKit itself is never
imported.

- Utterances give the lines (``id``, ``speaker``, ``text``), their conversation (``conversation_id``: the id of its
  first utterance) and ``reply-to`` (also spelled ``reply_to``). Inside a conversation the lines are in reply order:
  each utterance after the one it replies to (depth first, siblings by ``timestamp`` when every utterance of the
  conversation has a numeric one, else in file order), which gives ``turn`` and ``context``.
- Speakers give the labels: the metadata field ``gender_field`` (default ``gender``) with Cornell's codes ``m``,
  ``f`` and ``?`` (any case); other values through ``gender_map`` (``female=f,male=m``). A speaker without the field
  (or with null) is of unknown gender, scored like Cornell's ``?`` characters. The name is the speaker's
  ``character_name`` (or ``name``) metadata, else its id.
- Groups (movies): the utterance's metadata field ``group_field`` (default ``movie_id``, which ConvoKit's
  ``movie-corpus`` carries), else its conversation's, else one group for the whole corpus (its ``corpus.json``
  ``name``, else the folder's name).
- ``conversation_id`` in the table is ``GROUP:CONVERSATION_ID``: for a Cornell corpus exactly what the upstream
  reader makes (``MOVIE:FIRST_LINE_ID``).

A malformed utterance is a bad line (``FILE:LINE``, raised, or counted and skipped with ``skip_bad_lines``); a
speaker whose gender value is not known is named with its file.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from movie_gender.data.assembly import Lines
from movie_gender.data.conversations import Conversations
from movie_gender.data.corpus_records import RecordReader
from movie_gender.errors import CorpusFormatError

logger = logging.getLogger(__name__)

UTTERANCES = "utterances.jsonl"
SPEAKERS = "speakers.json"
CONVERSATIONS = "conversations.json"
CORPUS_META = "corpus.json"
INDEX = "index.json"
SOURCE = "ConvoKit conversation_id and reply-to"
# Cornell's codes, as the upstream reader reads them (case-insensitive): 0 male, 1 female, -1 unknown.
CODES = {"m": 0, "f": 1, "?": -1}


def is_convokit(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ConvoKit corpus folder (it holds ``utterances.jsonl``)."""
    path = Path(path)
    return path.is_dir() and (path / UTTERANCES).is_file()


def parse_gender_map(text: str | None) -> dict[str, int]:
    """The value -> label map of a speaker's gender field: Cornell's m / f / ? (any case), plus ``text``'s pairs
    (``female=f,male=m,nonbinary=?``: each value, any case, to one of m, f or ?)."""
    mapping = dict(CODES)
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        value, sep, code = pair.partition("=")
        if not sep or code.strip().lower() not in CODES or not value.strip():
            raise ValueError(f"gender map: expected VALUE=CODE pairs with CODE one of m, f or ?, found {pair!r}")
        mapping[value.strip().lower()] = CODES[code.strip().lower()]
    return mapping


def read_json_object(path: Path) -> dict:
    """A JSON file holding one object (speakers.json, conversations.json, corpus.json); errors name file and line."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise CorpusFormatError(path, f"not UTF-8 ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise CorpusFormatError(path, f"not valid JSON ({error.msg}, column {error.colno})", error.lineno) from None
    if not isinstance(data, dict):
        raise CorpusFormatError(path, f"expected a JSON object (id -> entry), found a {type(data).__name__}")
    return data


def entry_meta(entry: Any) -> dict:
    """The metadata of one speakers.json / conversations.json entry: ``{"meta": {...}, "vectors": [...]}`` as
    ``Corpus.dump`` writes it, or the metadata itself (older corpora)."""
    if not isinstance(entry, dict):
        return {}
    if isinstance(entry.get("meta"), dict) and set(entry) <= {"meta", "vectors"}:
        return entry["meta"]
    return entry


@dataclass
class Utterances:
    """The well-formed utterances, in file order."""

    name: str
    ids: list[str]
    speaker: list[str]
    conversation: list[str]
    reply_to: list[str | None]
    timestamp: list[Any]
    text: list[str]
    group: list[Any]


def _identifier(value: Any) -> str | None:
    """An id as ConvoKit keeps it: a string (an integer is read as its digits); None for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(value)
    return None


def _json_lines(path: Path, reader: RecordReader) -> Iterator[tuple[int, Any]]:
    """(line number, decoded value) of each non-blank line of a JSON lines file; bad lines raised or counted."""
    pieces = path.read_bytes().split(b"\n")
    if pieces and not pieces[-1]:
        pieces.pop()  # the newline that ends the file
    for number, raw in enumerate(pieces, 1):
        if not raw.strip():
            reader.stats.blank_lines += 1
            continue
        try:
            yield number, json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            reader.bad(str(path), number, f"not UTF-8 ({error.reason})")
        except json.JSONDecodeError as error:
            reader.bad(str(path), number, f"not a JSON object ({error.msg}, column {error.colno})")


def _check_utterance(record: Any, seen: set[str]) -> tuple[str, str] | str:
    """The id and speaker of one utterance record, or what is wrong with it (a message)."""
    if not isinstance(record, dict):
        return f"expected a JSON object, found a {type(record).__name__}"
    uid = _identifier(record.get("id"))
    if uid is None:
        return "the utterance has no 'id' (a string)"
    if uid in seen:
        return f"utterance id {uid!r} occurs twice"
    speaker = _identifier(record.get("speaker", record.get("user")))
    if speaker is None:
        return f"utterance {uid!r} has no 'speaker' (a string)"
    if not isinstance(record.get("text"), str):
        return f"utterance {uid!r} has no 'text' (a string)"
    if record.get("meta") is not None and not isinstance(record["meta"], dict):
        return f"utterance {uid!r}: 'meta' must be an object"
    return uid, speaker


def read_utterances(path: Path, reader: RecordReader, group_field: str) -> Utterances:
    """The utterances of ``utterances.jsonl``; a malformed one is a bad line (raised, or counted and skipped)."""
    out = Utterances(str(path), [], [], [], [], [], [], [])
    seen: set[str] = set()
    for number, record in _json_lines(path, reader):
        checked = _check_utterance(record, seen)
        if isinstance(checked, str):
            reader.bad(str(path), number, checked)
            continue
        uid, speaker = checked
        seen.add(uid)
        out.ids.append(uid)
        out.speaker.append(speaker)
        out.conversation.append(_identifier(record.get("conversation_id", record.get("root"))) or uid)
        out.reply_to.append(_identifier(record.get("reply-to", record.get("reply_to"))))
        out.timestamp.append(record.get("timestamp"))
        out.text.append(record["text"])
        out.group.append((record.get("meta") or {}).get(group_field))
    if not out.ids:
        raise CorpusFormatError(path, "no utterances found")
    return out


def _walk(rows: list[int], utterances: Utterances) -> list[int]:
    """The rows of one conversation in reply order: depth first from each utterance that replies to none of them,
    siblings by timestamp when every one is a number, else in file order; rows a reply-to cycle cuts off last."""
    if len(rows) == 1:
        return rows
    position = {utterances.ids[i]: i for i in rows}
    children: dict[int, list[int]] = {i: [] for i in rows}
    roots: list[int] = []
    for i in rows:
        reply_to = utterances.reply_to[i]
        parent = None if reply_to is None else position.get(reply_to)
        (children[parent] if parent is not None and parent != i else roots).append(i)
    stamps = [utterances.timestamp[i] for i in rows]
    if all(isinstance(t, numbers.Real) and not isinstance(t, bool) for t in stamps):
        key = {i: (utterances.timestamp[i], i) for i in rows}
        roots.sort(key=key.__getitem__)
        for siblings in children.values():
            siblings.sort(key=key.__getitem__)
    out, seen, stack = [], set(), roots[::-1]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            out.append(i)
            stack.extend(children[i][::-1])
    return out + [i for i in rows if i not in seen]


def conversations_of(utterances: Utterances, rows: np.ndarray) -> tuple[Conversations, list[int]]:
    """The conversations of the utterances at ``rows`` (as positions 0.. of ``rows``), numbered in order of first
    appearance, and the position of each one's first utterance in reply order."""
    members: dict[str, list[int]] = {}
    for row in rows.tolist():
        members.setdefault(utterances.conversation[row], []).append(row)
    position = np.full(len(utterances.ids), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    order, number, openers = [], [], []
    for k, members_rows in enumerate(members.values()):
        walk = _walk(members_rows, utterances)
        order += walk
        number += [k] * len(walk)
        openers.append(walk[0])
    order_positions = position[np.asarray(order, np.int64)] if order else np.zeros(0, np.int64)
    conversations = Conversations(order_positions, np.asarray(number, np.int64), SOURCE)
    return conversations, openers


def speaker_labels(
    speakers: dict, utterances: Utterances, field: str, mapping: dict[str, int], reader: RecordReader, name: str
) -> dict[str, int]:
    """The label of each speaker who speaks (0, 1, -1 unknown; -2 for a bad value, raised or counted)."""
    labels = {}
    for speaker in dict.fromkeys(utterances.speaker):
        value = entry_meta(speakers.get(speaker)).get(field)
        key = None if value is None else str(value).strip().lower()
        if key is None or key == "":
            labels[speaker] = -1
        elif key in mapping:
            labels[speaker] = mapping[key]
        else:
            message = (
                f"speaker {speaker!r}: unknown {field} value {value!r} (expected m, f or ?, or a value given in the "
                "gender map, e.g. --gender-map female=f,male=m)"
            )
            if not reader.skip_bad_lines:
                raise CorpusFormatError(name, message + " (or pass --skip-bad-lines to leave their lines out)")
            reader.stats.skipped_bad_lines += 1
            reader.stats.skipped_examples.append(f"{name}: {message}")
            labels[speaker] = -2
    return labels


@dataclass
class ConvoKitOptions:
    """How to read a ConvoKit corpus: the speakers' gender field and map, and the group (movie) field."""

    gender_field: str = "gender"
    gender_map: str | None = None
    group_field: str = "movie_id"


def _groups(folder: Path, utterances: Utterances, field: str) -> list[str]:
    """The group of each utterance: its own ``field``, else its conversation's, else the corpus' name."""
    missing = [i for i, g in enumerate(utterances.group) if g is None]
    if not missing:
        return [str(g) for g in utterances.group]
    conversations = read_json_object(folder / CONVERSATIONS) if (folder / CONVERSATIONS).is_file() else {}
    whole = None
    groups = list(utterances.group)
    for i in missing:
        groups[i] = entry_meta(conversations.get(utterances.conversation[i])).get(field)
        if groups[i] is None:
            if whole is None:
                meta = read_json_object(folder / CORPUS_META) if (folder / CORPUS_META).is_file() else {}
                whole = meta.get("name") if isinstance(meta.get("name"), str) and meta["name"] else folder.name
                logger.info("%s: utterances without a %r get one group for the whole corpus: %r", folder, field, whole)
            groups[i] = whole
    return [str(g) for g in groups]


def read_convokit(folder: Path, options: ConvoKitOptions, reader: RecordReader) -> Lines:
    """The lines of the ConvoKit corpus in ``folder`` (every utterance of a speaker whose label could be read)."""
    utterances = read_utterances(folder / UTTERANCES, reader, options.group_field)
    speakers_file = folder / SPEAKERS if (folder / SPEAKERS).is_file() else folder / "users.json"
    speakers = read_json_object(speakers_file) if speakers_file.is_file() else {}
    if not speakers:
        logger.warning("%s: no speakers.json: every speaker is of unknown gender", folder)
    labels = speaker_labels(
        speakers, utterances, options.gender_field, parse_gender_map(options.gender_map), reader, str(speakers_file)
    )
    gender = np.array([labels[s] for s in utterances.speaker], dtype=np.int64)
    rows = np.flatnonzero(gender != -2)
    reader.stats.unknown_gender += int((gender[rows] == -1).sum())
    groups = _groups(folder, utterances, options.group_field)
    conversations, openers = conversations_of(utterances, rows)
    names = {s: entry_meta(speakers.get(s)) for s in dict.fromkeys(utterances.speaker)}

    def column(values: list[Any]) -> pa.Array:
        return pa.array([values[r] for r in rows], pa.string())

    speaker_name = [names[s].get("character_name", names[s].get("name")) for s in utterances.speaker]
    keys = [f"{groups[row]}:{utterances.conversation[row]}" for row in openers]
    return Lines(
        line_id=column(utterances.ids),
        movie_id=column(groups),
        character_id=column(utterances.speaker),
        character_name=column(
            [str(n) if n is not None else s for n, s in zip(speaker_name, utterances.speaker, strict=True)]
        ),
        text=column(utterances.text),
        gender=gender[rows],
        conversations=conversations,
        conversation_ids=pa.array(keys, pa.string()),
    )


__all__ = [
    "CONVERSATIONS",
    "CORPUS_META",
    "INDEX",
    "SPEAKERS",
    "UTTERANCES",
    "ConvoKitOptions",
    "entry_meta",
    "is_convokit",
    "parse_gender_map",
    "read_convokit",
    "read_json_object",
]
