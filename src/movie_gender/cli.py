"""The installed ``movie-gender`` command: ``movie-gender SUBCOMMAND [options]``; ``--help`` on each explains it."""

from __future__ import annotations

import importlib
import sys

from movie_gender.commands.common import run

# subcommand -> (module in movie_gender.commands, one-line summary)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build-dataset": ("build_dataset", "build the DatasetDict (parquet shards + dataset card) from the corpus"),
    "train": ("train", "train a model and write a model folder (weights, tokenizer, card, metrics, plots)"),
    "evaluate": ("evaluate", "score a model folder or Hub repo beside the baselines, with intervals"),
    "predict": (
        "predict",
        "score lines, a file, a dataset split, or every character of a corpus (JSON lines or a table)",
    ),
    "label-characters": (
        "label_characters",
        "complete a corpus: every character with its corpus label, else the model's calibrated prediction (a dataset)",
    ),
    "push": ("push", "publish a model folder (and a dataset folder) to the Hugging Face Hub"),
    "benchmark": ("benchmark", "measure the speed-ups side by side, as ratios"),
    "export": ("export", "export a model to ONNX (runs with onnxruntime, tokenizers and numpy only)"),
}


def usage() -> str:
    """The top-level help: every subcommand with its summary."""
    from movie_gender import __version__

    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items())
    return (
        f"usage: movie-gender SUBCOMMAND [options]   (movie-gender {__version__})\n\n"
        f"Predict the gender of a movie character from its dialogue, the Hugging Face way.\n\n"
        f"subcommands:\n{rows}\n\n'movie-gender SUBCOMMAND --help' explains every option of a subcommand."
    )


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a subcommand's ``main``; errors end with one line on stderr (see ``commands.common.run``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return
    if argv[0] == "--version":
        from movie_gender import __version__

        print(f"movie-gender {__version__}")
        return
    if argv[0] not in SUBCOMMANDS:
        print(f"{usage()}\n\nerror: unknown subcommand {argv[0]!r}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(f".commands.{SUBCOMMANDS[argv[0]][0]}", __package__)
    run(lambda: module.main(argv[1:]))


if __name__ == "__main__":
    main()
