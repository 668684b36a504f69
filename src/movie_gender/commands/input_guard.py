"""Outputs that never touch inputs: a command refuses an output path that is one of its inputs, lies inside a
folder (or under the fixed part of a glob) that it reads, or is a folder that holds an input (writing a folder
replaces it whole)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

_GLOB = re.compile(r"[*?\[]")


def _read_root(source: str) -> Path:
    """What reading ``source`` touches: the file or folder itself, or for a glob the folder its fixed part names."""
    if not _GLOB.search(source):
        return Path(source).resolve()
    parts = Path(source).parts
    fixed = next(i for i, part in enumerate(parts) if _GLOB.search(part))
    return Path(*parts[:fixed]).resolve() if fixed else Path.cwd().resolve()


def refuse_output_in_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Raise ValueError (one line, saying why) when writing ``output`` could change or re-read an input: the same
    path, a path inside a folder or glob read as input, or a folder that holds an input. URLs and Hub ids that are
    not local paths are not inputs on this machine."""
    target = Path(output).resolve()
    for source in inputs:
        if source is None or "://" in str(source):
            continue
        text = str(source)
        root = _read_root(text)
        if not _GLOB.search(text) and not root.exists():
            continue  # a Hub id, not a local path
        if target == root:
            raise ValueError(f"--output {output} is the input {text}: write the output elsewhere")
        if target.is_relative_to(root) and (root.is_dir() or _GLOB.search(text)):
            raise ValueError(
                f"--output {output} lies inside {root}, which is read as input ({text}): a second run would read it "
                "back; write the output elsewhere"
            )
        if root.is_relative_to(target):
            raise ValueError(
                f"--output {output} holds the input {text}, and writing it replaces it whole: write the output "
                "elsewhere"
            )


__all__ = ["refuse_output_in_inputs"]
