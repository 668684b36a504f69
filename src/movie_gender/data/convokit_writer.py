"""ConvoKit corpora out: a folder that ConvoKit's ``Corpus(filename=...)`` loads, written the way ``Corpus.dump``
writes one (``utterances.jsonl``, ``speakers.json``, ``conversations.json``, ``corpus.json``, ``index.json``; the
test keeps a folder dumped by ConvoKit itself as the reference), replaced whole and in one step.

:func:`cornell_records` turns a corpus table (any source's lines, with their conversations and turns) into
ConvoKit's utterances, speakers and conversations; :func:`convert_corpus` writes a ConvoKit copy of a Cornell
corpus, with the conversations the corpus gives (``movie_conversations.txt``, else line-id adjacency).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from movie_gender.atomic import atomic_folder
from movie_gender.configuration import CorpusSource
from movie_gender.data.convokit import CONVERSATIONS, CORPUS_META, INDEX, SPEAKERS, UTTERANCES
from movie_gender.data.corpus import published_source, read_corpus_table

FILES = (UTTERANCES, SPEAKERS, CONVERSATIONS, CORPUS_META, INDEX)
GENDER_CODES = {0: "m", 1: "f", -1: "?"}


def _type_names(records: Iterable[dict]) -> dict[str, list[str]]:
    """ConvoKit's index of a kind of metadata: each key -> the Python type names of its values, as
    ``"<class 'str'>"``, in order of first appearance."""
    index: dict[str, list[str]] = {}
    for meta in records:
        for key, value in meta.items():
            names = index.setdefault(key, [])
            if str(type(value)) not in names:
                names.append(str(type(value)))
    return index


def _entries(metas: dict[str, dict], vectors: dict[str, list] | None = None) -> dict[str, dict]:
    """speakers.json / conversations.json entries as ``Corpus.dump`` writes them (``vectors``: the names of each
    entry's vectors, kept from a corpus read)."""
    return {key: {"meta": meta, "vectors": (vectors or {}).get(key, [])} for key, meta in metas.items()}


def utterance_record(
    uid: str, speaker: str, conversation: str, reply_to: str | None, text: str, meta: dict, timestamp: int
) -> dict[str, Any]:
    """One line of utterances.jsonl, its keys in ``Corpus.dump``'s order; ``timestamp``: the line's position in its
    conversation (screenplays and the Cornell corpus have no times), so that ConvoKit's chronological views work."""
    return {
        "id": uid,
        "conversation_id": conversation,
        "text": text,
        "speaker": speaker,
        "meta": meta,
        "reply-to": reply_to,
        "timestamp": timestamp,
        "vectors": [],
    }


def write_convokit(
    output: str | os.PathLike,
    *,
    speakers: dict[str, dict],
    conversations: dict[str, dict],
    meta: dict,
    utterances: list[dict] | None = None,
    utterances_file: Path | None = None,
    utterances_index: dict | None = None,
    speaker_vectors: dict[str, list] | None = None,
    conversations_file: Path | None = None,
) -> Path:
    """Write a ConvoKit corpus folder: the utterance records (or a utterances.jsonl copied byte for byte, with its
    metadata index ``utterances_index``), the speakers' metadata (id -> meta; ``speaker_vectors``: their vectors'
    names), the conversations' (or a conversations.json copied byte for byte) and the corpus' metadata."""
    with atomic_folder(output, replaces=FILES) as tmp:
        with open(tmp / UTTERANCES, "w", encoding="utf-8") as stream:
            for record in utterances or ():
                stream.write(json.dumps(record) + "\n")
        if utterances_file is not None:
            shutil.copyfile(utterances_file, tmp / UTTERANCES)
        else:
            utterances_index = _type_names(r["meta"] for r in utterances or ())
        (tmp / SPEAKERS).write_text(json.dumps(_entries(speakers, speaker_vectors)), encoding="utf-8")
        if conversations_file is not None:
            shutil.copyfile(conversations_file, tmp / CONVERSATIONS)
        else:
            (tmp / CONVERSATIONS).write_text(json.dumps(_entries(conversations)), encoding="utf-8")
        (tmp / CORPUS_META).write_text(json.dumps(meta), encoding="utf-8")
        index = {
            "utterances-index": utterances_index or {},
            "speakers-index": _type_names(speakers.values()),
            "conversations-index": _type_names(conversations.values()),
            "overall-index": _type_names([meta]),
            "version": 1,
            "vectors": [],
        }
        (tmp / INDEX).write_text(json.dumps(index), encoding="utf-8")
    return Path(output)


def utterances_index(path: Path) -> dict[str, list[str]]:
    """The utterances' metadata index of a utterances.jsonl (read record by record)."""
    with open(path, "rb") as stream:
        return _type_names((json.loads(line).get("meta") or {}) for line in stream if line.strip())


def cornell_records(table: pa.Table) -> tuple[list[dict], dict[str, dict], dict[str, dict]]:
    """ConvoKit's utterances (in table order), speakers and conversations of a corpus table with every line
    (``include_unknown=True``): each line replies to the one before it in its conversation, its timestamp is its
    turn; a conversation's id is
    its first line's id; the movie is the utterances' and conversations' ``movie_id``, the speakers carry
    ``character_name``, ``movie_id`` and ``gender`` (m, f or ?)."""
    rows = table.select(["line_id", "movie_id", "character_id", "character_name", "text", "label"]).to_pylist()
    conversation = table.column("conversation_id").to_pylist()
    turn = table.column("turn").to_pylist()
    at = {(c, t): r["line_id"] for r, c, t in zip(rows, conversation, turn, strict=True)}
    utterances: list[dict] = []
    speakers: dict[str, dict] = {}
    conversations: dict[str, dict] = {}
    for row, c, t in zip(rows, conversation, turn, strict=True):
        first = at[c, 0]
        utterances.append(
            utterance_record(
                row["line_id"],
                row["character_id"],
                first,
                at[c, t - 1] if t else None,
                row["text"],
                {"movie_id": row["movie_id"]},
                t,
            )
        )
        speakers.setdefault(
            row["character_id"],
            {
                "character_name": row["character_name"],
                "movie_id": row["movie_id"],
                "gender": GENDER_CODES[row["label"]],
            },
        )
        conversations.setdefault(first, {"movie_id": row["movie_id"]})
    return utterances, speakers, conversations


def convert_corpus(source: Any, output: str | os.PathLike) -> Path:
    """Write a ConvoKit copy of the Cornell corpus ``source`` (anything :func:`movie_gender.load_cornell` reads, or a
    :class:`~movie_gender.configuration.CorpusSource`): every line of a known character, with the corpus'
    conversations. Read back, it gives the same table, to the byte."""
    base = source if isinstance(source, CorpusSource) else CorpusSource(source)
    corpus = dataclasses.replace(base, context_size=0, include_unknown=True)
    table, _ = read_corpus_table(corpus)
    utterances, speakers, conversations = cornell_records(table)
    name = Path(published_source(base)).name
    return write_convokit(
        output, utterances=utterances, speakers=speakers, conversations=conversations, meta={"name": name}
    )


__all__ = ["FILES", "convert_corpus", "cornell_records", "utterance_record", "utterances_index", "write_convokit"]
