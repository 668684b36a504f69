"""Writes a reader never sees half-done: one file (:func:`atomic_path`) or a whole folder (:func:`atomic_folder`);
and the one check of where an output may go (:func:`check_output`): its folder exists, and it is none of the inputs,
nor inside a folder or glob read as input.

A file is written under a temporary name beside its target, flushed to disk and renamed onto it. A folder is
written as a temporary sibling, every file flushed to disk, and swapped into place in one step (Linux
``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, between which the folder is briefly absent, never mixed), so
a reader, or a process killed at any point, finds the complete old folder or the complete new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fnmatch
import glob
import logging
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from movie_gender.errors import MovieGenderError

logger = logging.getLogger(__name__)

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file's (or folder's) contents to disk; folders where the platform cannot are skipped."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) and hasattr(os, "O_DIRECTORY") else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if os.path.isdir(path):
            return  # e.g. Windows cannot open folders
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not os.path.isdir(path):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; flush it to disk and rename it onto ``target`` only if the block
    succeeds."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.incomplete")
    try:
        yield partial
        fsync_path(partial)
        os.replace(partial, target)
        fsync_path(target.parent)
    finally:
        partial.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name or not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(libc_name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system or kernel cannot exchange
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _swap_into_place(new: Path, target: Path) -> None:
    """Make ``new`` be ``target``; afterwards ``new`` holds the old folder (if there was one), to be removed."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        return
    aside = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.old")
    os.rename(target, aside)
    os.rename(new, target)
    os.rename(aside, new)


def _carry_over(old: Path, new: Path, replaced: Iterable[str]) -> None:
    """Hard-link (or copy) into ``new`` what ``old`` holds that was not written anew and matches no ``replaced``
    name or pattern."""
    for entry in old.iterdir():
        if any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in replaced) or os.path.lexists(new / entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, new / entry.name)


def _link_or_copy(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    try:
        os.link(source, destination, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, destination, follow_symlinks=False)


def remove_stale(target: Path) -> None:
    """Remove temporary siblings of ``target`` left by processes that were killed while writing it."""
    for entry in target.parent.glob(f".{target.name}.*.incomplete"):
        pid = entry.name[len(target.name) + 2 :].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, *, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; if the block succeeds, flush every file in it to disk and
    swap it into place as ``target`` in one step.

    What the old ``target`` holds besides the files written anew is carried over (hard links), except the names (or
    glob patterns) in ``replaces``: the files that describe the old content (say its metrics) and must not outlive
    it.
    """
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    new = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.incomplete")
    new.mkdir()
    try:
        yield new
        if target.is_dir():
            _carry_over(target, new, tuple(replaces))
        for folder, _, files in os.walk(new):
            for name in files:
                fsync_path(os.path.join(folder, name))
            fsync_path(folder)
        _swap_into_place(new, target)
        fsync_path(target.parent)
    finally:
        shutil.rmtree(new, ignore_errors=True)


class OutputIsInputError(MovieGenderError, ValueError):
    """An output that is an input, or lies inside a folder or glob read as input (or holds an input)."""


def _glob_regex(pattern: str) -> re.Pattern:
    """A regular expression of the paths ``glob.glob(pattern, recursive=True)`` would match (its leading folders
    resolved): ``*`` and ``?`` stay within a folder, ``**`` spans any number of them."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    base = os.path.realpath(os.path.join(*parts[:fixed])) if fixed else os.path.realpath(".")
    out = [re.escape(base.rstrip(os.sep))]
    for part in parts[fixed:]:
        if part == "**":
            out.append(f"(?:{re.escape(os.sep)}[^{re.escape(os.sep)}]*)*")
            continue
        out.append(re.escape(os.sep))
        for piece in re.split(r"(\*|\?|\[[^\]]*\])", part):
            if piece == "*":
                out.append(f"[^{re.escape(os.sep)}]*")
            elif piece == "?":
                out.append(f"[^{re.escape(os.sep)}]")
            elif piece.startswith("[") and piece.endswith("]") and len(piece) > 2:
                out.append("[" + ("^" + piece[2:-1] if piece[1] == "!" else piece[1:-1]) + "]")
            else:
                out.append(re.escape(piece))
    return re.compile("".join(out) + r"\Z")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _overlap(output: str, spec: str, folder_output: bool) -> str | None:
    """Why ``output`` (resolved) must not be written where input ``spec`` is read, or None."""
    if glob.has_magic(spec):
        if _glob_regex(spec).match(output):
            return f"it matches the input glob {spec!r}, so a later run would read it as input"
        matches = [os.path.realpath(p) for p in glob.glob(spec, recursive=True)]
        if output in matches:
            return f"it is an input file matched by {spec!r}"
        if folder_output and any(_inside(m, output) for m in matches):
            return f"it is a folder that holds input files of {spec!r}"
        return None
    source = os.path.realpath(spec)
    if output == source:
        return f"it is the input {spec}"
    if os.path.isdir(source) and _inside(output, source):
        return f"it lies inside the input folder {spec}, so a later run would read it as input"
    if folder_output and _inside(source, output):
        return f"it is a folder that holds the input {spec}"
    return None


def check_output(
    output: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    *,
    formats: Iterable[str] | None = None,
    folder: bool = False,
) -> Path:
    """Check, before anything is written, that ``output`` may be written: its extension is one of ``formats``
    (where given), its parent folder exists, and it is none of ``inputs`` (files, folders or globs; symbolic links
    and relative paths resolved), nor lies inside an input folder or matches an input glob, nor (``folder``: an
    output folder) holds an input. Hub ids and URIs among ``inputs`` are compared as text. One-line errors."""
    text = os.fspath(output)
    specs = [os.fspath(spec) for spec in inputs if spec is not None and os.fspath(spec)]
    if "://" in text:
        for spec in specs:
            if _inside(text, spec) or _inside(spec, text):
                raise OutputIsInputError(f"{text}: the output overlaps the input {spec}; write it elsewhere")
        return Path(text)
    path = Path(text)
    if formats is not None and not folder:
        formats = tuple(formats)
        if path.suffix.lower() not in formats:
            shown = path.suffix or "(no extension)"
            raise ValueError(f"{path}: unknown output format {shown!r}; use one of {', '.join(formats)}")
    parent = path.parent if not folder else path.parent if not path.exists() else path
    if not parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder for the output")
    resolved = os.path.realpath(path)
    for spec in specs:
        if "://" in spec:
            continue
        why = _overlap(resolved, spec, folder)
        if why:
            raise OutputIsInputError(f"{path}: refused as the output: {why}; write it elsewhere")
    return path


__all__ = ["OutputIsInputError", "atomic_path", "atomic_folder", "check_output", "fsync_path", "remove_stale"]
