"""One source of defaults: the config dataclasses, the presets over them, and the options derived from them."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from movie_gender.commands import common, train
from movie_gender.configuration import BiLSTMConfig, DataOptions, TrainingConfig, TrainOptions, setting
from movie_gender.presets import PRESETS, Preset

CONFIGS = (DataOptions, BiLSTMConfig, TrainingConfig, TrainOptions)
# Every option `movie-gender train` had before its options were derived from the configs: they keep working.
TRAIN_FLAGS = [
    "--corpus",
    "--dataset",
    "--split",
    "--balance",
    "--validation-size",
    "--test-size",
    "--test-per-class",
    "--drop-overlap",
    "--skip-bad-lines",
    "--encoding",
    "--glove",
    "--glove-member",
    "--unknown-init",
    "--min-frequency",
    "--max-vocab-size",
    "--max-length",
    "--hidden-size",
    "--num-layers",
    "--dropout",
    "--pooling",
    "--freeze-embeddings",
    "--finetune-embeddings",
    "--unidirectional",
    "--epochs",
    "--batch-size",
    "--learning-rate",
    "--lr",
    "--lr-schedule",
    "--weight-decay",
    "--patience",
    "--grad-clip",
    "--max-steps",
    "--bucket-batches",
    "--precision",
    "--device",
    "--seed",
    "--output",
    "--checkpoint-dir",
    "--checkpoint-every",
    "--resume",
    "--min-lines",
    "--bootstrap",
    "--push-to-hub",
    "--private",
    "--preset",
    "--verbose",
]


def test_the_library_defaults_are_the_default_preset() -> None:
    assert PRESETS["default"].overrides() == {}
    assert PRESETS["default"].configs() == (DataOptions(), BiLSTMConfig(), TrainingConfig())


def test_the_tutorial_preset_states_only_what_it_changes() -> None:
    assert PRESETS["tutorial"].overrides() == {
        "split": "tutorial",
        "hidden_size": 256,
        "num_layers": 4,
        "dropout": 0.2,
        "pooling": "last",
        "bag_of_words": False,
        "word_dropout": 0.0,
        "epochs": 25,
        "lr_schedule": "constant",
        "patience": 0,
        "grad_clip": 0.0,
    }


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_setting_says_what_it_is(cls: type) -> None:
    for f in dataclasses.fields(cls):
        assert len(f.metadata.get("help", "")) > 10, f"{cls.__name__}.{f.name} has no help"


def test_train_without_options_uses_the_default_preset() -> None:
    options = train.options_from_args(train.parse_args(["--output", "out"]))
    assert options == TrainOptions(output="out", preset="default")


def test_train_with_a_preset_takes_its_settings_and_explicit_options_win() -> None:
    options = train.options_from_args(
        train.parse_args(
            [
                "--output",
                "o",
                "--preset",
                "tutorial",
                "--hidden-size",
                "8",
                "--split",
                "movie",
                "--precision",
                "fp32",
                "--seed",
                "7",
            ]
        )
    )
    tutorial = PRESETS["tutorial"]
    assert options.model == dataclasses.replace(tutorial.model, hidden_size=8)
    assert options.training == dataclasses.replace(tutorial.training, bf16=False, seed=7)
    assert options.data == dataclasses.replace(tutorial.data, split="movie")  # --seed leaves the split alone
    assert options.preset == "tutorial"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--finetune-embeddings"], {"freeze_embeddings": False}),
        (["--unidirectional"], {"bidirectional": False}),
        (["--lr", "0.5"], {"learning_rate": 0.5}),
        (["--precision", "bf16"], {"bf16": True}),
        (["--max-steps", "3", "--drop-overlap"], {"max_steps": 3, "drop_overlap": True}),
    ],
)
def test_option_spellings_map_to_fields(argv: list[str], expected: dict) -> None:
    options = train.options_from_args(train.parse_args(["--output", "o", *argv]))
    values = {**dataclasses.asdict(options.data), **options.model.to_dict(), **dataclasses.asdict(options.training)}
    assert {key: values[key] for key in expected} == expected


def test_every_earlier_train_option_still_exists() -> None:
    parser = train.build_parser()
    known = {flag for action in parser._actions for flag in action.option_strings}
    assert set(TRAIN_FLAGS) <= known


def test_every_setting_with_help_is_a_train_option() -> None:
    parser = train.build_parser()
    dests = {action.dest for action in parser._actions}
    for cls in CONFIGS:
        for f in dataclasses.fields(cls):
            if f.metadata.get("cli", True):
                assert f.name in dests, f"{cls.__name__}.{f.name} is not an option of movie-gender train"


def test_a_new_setting_is_one_field() -> None:
    @dataclass
    class Options:
        context_size: int = setting(0, "previous lines of the conversation to read", check="non_negative")
        tag: str | None = setting(None, "a free-form tag, recorded in metrics.json")
        hidden: int = setting(3, "set by the code, not the user", cli=False)

    parser = argparse.ArgumentParser()
    common.add_config_options(parser, Options)
    help_text = " ".join(parser.format_help().split())
    assert "--context-size CONTEXT_SIZE previous lines of the conversation to read (default: 0)" in help_text
    assert "--hidden" not in help_text
    args = parser.parse_args(["--context-size", "2"])
    assert dataclasses.replace(Options(), **common.given_options(args, Options)) == Options(context_size=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--context-size", "-1"])


def test_a_preset_with_an_impossible_value_fails_when_written() -> None:
    with pytest.raises(ValueError, match="pooling must be one of"):
        Preset("broken", model=BiLSTMConfig(pooling="average"))


def test_the_corpus_readers_take_one_source_object_whose_defaults_data_options_share() -> None:
    from movie_gender.configuration import DEFAULT_URL, CorpusSource

    assert CorpusSource() == CorpusSource(DEFAULT_URL, sha256=None, skip_bad_lines=False, encoding="latin-1")
    for name in ("sha256", "skip_bad_lines", "encoding", "context_size"):
        assert getattr(DataOptions(), name) == getattr(CorpusSource(), name), name
    options = DataOptions(corpus="c.zip", sha256="ab", skip_bad_lines=True, encoding="utf-8", context_size=1)
    assert options.reading() == CorpusSource(
        "c.zip", sha256="ab", skip_bad_lines=True, encoding="utf-8", context_size=1
    )
    assert options.reading("other.zip").source == "other.zip"
    with pytest.raises(ValueError, match="context_size must be an integer >= 0, got -1"):
        CorpusSource(context_size=-1)


@pytest.mark.parametrize("command", ["predict", "label_characters"])
def test_the_corpus_reading_options_come_from_corpus_source(command: str) -> None:
    import importlib

    from movie_gender.configuration import CorpusSource

    parser = importlib.import_module(f"movie_gender.commands.{command}").build_parser()
    dests = {action.dest for action in parser._actions}
    for f in dataclasses.fields(CorpusSource):
        assert (f.name in dests) == f.metadata.get("cli", True), f.name
    args = parser.parse_args(["model", "--corpus", "c.zip", "--encoding", "utf-8", "--output", "o"])
    assert common.given_options(args, CorpusSource) == {"encoding": "utf-8"}


def test_evaluate_split_options_are_the_data_options_of_train() -> None:
    from movie_gender.commands import evaluate
    from movie_gender.training.pipeline import SPLIT_OPTIONS

    args = evaluate.parse_args(["m", "--split-mode", "random", "--split-seed", "3", "--test-per-class", "7"])
    given = common.given_options(args, DataOptions)
    assert {k: v for k, v in given.items() if k in SPLIT_OPTIONS} == {"split": "random", "seed": 3, "test_per_class": 7}
    assert args.eval_split == "test"  # --split names the split to score
    for argv in (["--validation-size", "1.5"], ["--test-per-class", "0"], ["--balance", "bogus"]):
        with pytest.raises(SystemExit):
            evaluate.parse_args(["m", *argv])
    dests = {action.dest for action in evaluate.build_parser()._actions}
    assert set(SPLIT_OPTIONS) | {"min_lines", "bootstrap", "bootstrap_unit"} <= dests
