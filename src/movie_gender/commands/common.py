"""Helpers shared by the subcommands of `movie-gender`: argument types, options derived from the config dataclasses,
logging, and turning errors into one line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from movie_gender.atomic import atomic_path
from movie_gender.errors import MovieGenderError, first_line, redact


def _number(kind: type, accept: Callable[[float], bool], requirement: str) -> Callable[[str], float]:
    """An argparse type: parse ``kind`` and check it, with a message that says what is allowed."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {value}")
        return value

    parse.__name__ = requirement  # argparse names the type in some messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "0 or more")
positive_float = _number(float, lambda v: v > 0, "greater than 0")
fraction = _number(float, lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")
non_negative_float = _number(float, lambda v: v >= 0, "0 or more")
probability = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")
CHECKS = {
    ("positive", int): positive_int,
    ("positive", float): positive_float,
    ("non_negative", int): non_negative_int,
    ("non_negative", float): non_negative_float,
    ("fraction", float): fraction,
    ("probability", float): probability,
}


def _words(values: Mapping[str, Any]) -> Callable[[str], Any]:
    """An argparse type for a field whose command-line words stand for values (e.g. "fp32" -> False)."""

    def parse(text: str) -> Any:
        if text not in values:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(values)})")
        return values[text]

    return parse


def _show(value: Any, metadata: Mapping[str, Any]) -> str:
    """A default as the command line spells it."""
    words = {v: k for k, v in metadata.get("values", {}).items()}
    if value in words:
        return words[value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "none" if value is None else str(value)


def _values(config: Any) -> dict[str, Any]:
    """The field values of a dataclass instance, or the defaults of a dataclass (fields without one left out)."""
    if isinstance(config, type):
        return {
            f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
            for f in dataclasses.fields(config)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def _base_type(hint: Any) -> type:
    """The type of a field: int for ``int`` and ``int | None``, and so on."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _help(f: dataclasses.Field, shown_configs: list[tuple[str, dict[str, Any]]]) -> str:
    """A field's help with its default, and the presets' values where they differ (``%`` escaped for argparse)."""
    meta = f.metadata
    (label, base), *others = shown_configs
    shown = [f"{label}: {_show(base[f.name], meta)}"] if f.name in base else []
    shown += [
        f"{name}: {_show(config[f.name], meta)}"
        for name, config in others
        if f.name in config and config[f.name] != base.get(f.name)
    ]
    suffix = "" if not shown or ("default:" in meta["help"] and len(shown) == 1) else f" ({'; '.join(shown)})"
    return (meta["help"] + suffix).replace("%", "%%")


def _argument(f: dataclasses.Field, kind: type, help_text: str) -> dict[str, Any]:
    """The add_argument keywords of a field that takes a value: type (with its check), choices, required."""
    meta = f.metadata
    options: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
    if "values" in meta:
        options.update(type=_words(meta["values"]), metavar="{" + ",".join(meta["values"]) + "}")
    elif "check" in meta:
        options["type"] = CHECKS[meta["check"], kind]
    elif kind in (int, float):
        options["type"] = kind
    if "choices" in meta:
        options["choices"] = meta["choices"]
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        options.update(required=True, default=None)
    return options


def add_corpus_reading_options(parser: argparse.ArgumentParser, title: str) -> None:
    """--sha256, --skip-bad-lines and --encoding (the command-line fields of
    :class:`~movie_gender.configuration.CorpusSource`), in the --help section ``title``: how the commands that read a
    corpus of their own read it. :func:`given_options` reads them back."""
    from movie_gender.configuration import CorpusSource

    add_config_options(parser, CorpusSource, group=title)


def add_config_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    groups: dict[str, Any] | None = None,
    group: str | None = None,
    defaults: Mapping[str, Any] | None = None,
    skip: Iterable[str] = (),
    only: Iterable[str] | None = None,
    flags: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` (help, type, checks and flags from the field's metadata, see
    :func:`movie_gender.configuration.setting`), in the --help section ``group`` or the field's own.

    The options default to "not given" (absent from the parsed namespace; :func:`given_options` reads them back), so
    that a preset can fill in the rest. ``defaults`` maps a name to an instance of ``cls`` whose values --help shows:
    the first is shown as the default (under its name when that is not "default"), the others where they differ
    (e.g. ``{"default": ..., "tutorial": ...}``); by default the field defaults of ``cls``. ``groups`` collects the
    sections by title across calls. ``only`` limits the options to those fields, ``skip`` leaves fields out, and
    ``flags`` spells some fields' options otherwise (field name -> option strings).
    """
    groups = {} if groups is None else groups
    shown_configs = [(name, _values(config)) for name, config in (defaults or {"default": cls}).items()]
    hints = typing.get_type_hints(cls)
    wanted = None if only is None else set(only)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if f.name in skip or (wanted is not None and f.name not in wanted):
            continue
        if not meta.get("help") or meta.get("cli", True) is False:
            continue
        target = _section(parser, groups, meta.get("group", group))
        help_text, kind = _help(f, shown_configs), _base_type(hints[f.name])
        names = (flags or {}).get(f.name) or meta.get("flags", ("--" + f.name.replace("_", "-"),))
        if kind is bool and "values" not in meta:
            _add_switch(target, f, names, help_text)
        else:
            target.add_argument(*names, **_argument(f, kind, help_text))


def _section(parser: argparse.ArgumentParser, groups: dict[str, Any], title: str | None) -> Any:
    """The --help section ``title`` of ``parser`` (made on first use and kept in ``groups``); the parser itself
    for None."""
    if title is None:
        return parser
    if title not in groups:
        groups[title] = parser.add_argument_group(title)
    return groups[title]


def _add_switch(target: Any, f: dataclasses.Field, names: Sequence[str], help_text: str) -> None:
    """A bool field as a switch, with an opposite flag where the field says so (the two mutually exclusive)."""
    negative = f.metadata.get("negative")
    target = target.add_mutually_exclusive_group() if negative else target
    target.add_argument(
        *names, dest=f.name, action="store_const", const=True, default=argparse.SUPPRESS, help=help_text
    )
    if negative:
        target.add_argument(
            negative,
            dest=f.name,
            action="store_const",
            const=False,
            default=argparse.SUPPRESS,
            help=f.metadata.get("negative_help", help_text),
        )


def option_values(args: argparse.Namespace, cls: type, names: Iterable[str]) -> dict[str, Any]:
    """The fields ``names`` of ``cls`` as given on the command line, else their defaults."""
    defaults = _values(cls)
    return {name: getattr(args, name, defaults[name]) for name in names}


def given_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line (options added by :func:`add_config_options`)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}


def setup_logging(verbose: bool = False) -> None:
    """INFO-level logs from this package (DEBUG with --verbose), quiet third-party loggers."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in ("httpx", "urllib3", "filelock", "fsspec", "datasets", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run(main: Callable[[], object]) -> None:
    """Run a script's main(): bad input ends with one clear line on stderr and exit code 2; Ctrl-C with 130."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        main()
    except (MovieGenderError, OSError, ValueError, HfHubHTTPError) as error:
        print(f"error: {redact(first_line(error))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def write_json(path: Path, data: object) -> None:
    """Write ``data`` as indented JSON to ``path`` (its folder created), under a temporary name renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
