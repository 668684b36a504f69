"""The package's table of lines from whole columns: what every source other than the Cornell upstream files (a
ConvoKit corpus, screenplays) gives, turned into the columns of :data:`movie_gender.data.corpus.FEATURES` the same
way the upstream reader turns its records into them (conversation ids, turns, and the context column in chunks of
the same size), so that the same lines, speakers and conversations give the same table, to the byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from movie_gender.data.conversations import Conversations, context_lists, context_positions

CONTEXT_TYPE = pa.list_(pa.string())


@dataclass
class Lines:
    """Every line that takes part in conversations, in source order: their ids, group (movie), speaker id and name,
    text (Arrow string arrays), gender (0 male, 1 female, -1 unknown), their conversations, and the id of each
    conversation (``conversation_ids[k]`` for conversation number ``k`` of ``conversations``)."""

    line_id: pa.Array
    movie_id: pa.Array
    character_id: pa.Array
    character_name: pa.Array
    text: pa.Array
    gender: np.ndarray
    conversations: Conversations
    conversation_ids: pa.Array


def speaker_codes(character_id: pa.Array) -> np.ndarray:
    """A number per distinct speaker id (only equality matters: who else spoke around a line)."""
    return np.asarray(pc.dictionary_encode(character_id).indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def assemble(
    lines: Lines, context_size: int, include_unknown: bool, chunk: int
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The columns of the lines of known gender (and of unknown gender too with ``include_unknown``) and their
    labels; conversations and context draw on every line. ``chunk``: lines per chunk of the context column."""
    keep = np.flatnonzero(lines.gender >= (-1 if include_unknown else 0))
    conversation, turn, _ = lines.conversations.rows(keep)
    positions = context_positions(lines.conversations, speaker_codes(lines.character_id), keep, context_size)
    context = context_lists(
        positions, lambda p: lines.text.take(pa.array(p)), parts=max(1, -(-len(positions) // chunk))
    )
    keep_array = pa.array(keep)
    columns = {
        "line_id": lines.line_id.take(keep_array),
        "movie_id": lines.movie_id.take(keep_array),
        "character_id": lines.character_id.take(keep_array),
        "character_name": lines.character_name.take(keep_array),
        "text": lines.text.take(keep_array),
        "conversation_id": lines.conversation_ids.take(pa.array(conversation)),
        "turn": pa.array(turn, pa.int32()),
        "context": pa.chunked_array(context, CONTEXT_TYPE),
    }
    return columns, lines.gender[keep]


__all__ = ["CONTEXT_TYPE", "Lines", "assemble", "speaker_codes"]
