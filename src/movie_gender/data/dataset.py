"""The train / validation / test DatasetDict: :func:`build_dataset` (the protocol is in
:mod:`movie_gender.data.splitting`), and saving it in the Hub layout with its dataset card.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import yaml
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCardData

from movie_gender.atomic import atomic_folder
from movie_gender.configuration import DEFAULT_URL, DataOptions
from movie_gender.data.corpus import FULL_CORPUS
from movie_gender.data.splitting import DatasetReport, prepare_dataset

# The corpus' citation, as the dataset cards (this one and the completed corpus') print it.
CITATION = [
    "```bibtex",
    "@InProceedings{Danescu-Niculescu-Mizil+Lee:11a,",
    "  author={Cristian Danescu-Niculescu-Mizil and Lillian Lee},",
    "  title={Chameleons in imagined conversations: A new approach to understanding coordination of "
    "linguistic style in dialogs.},",
    "  booktitle={Proceedings of the Workshop on Cognitive Modeling and Computational Linguistics, ACL 2011},",
    "  year={2011}",
    "}",
    "```",
]


def build_dataset(
    source: str | os.PathLike | datasets.Dataset = DEFAULT_URL,
    *,
    split: str = DataOptions.split,
    balance: str = DataOptions.balance,
    seed: int = DataOptions.seed,
    validation_size: float = DataOptions.validation_size,
    test_size: float = DataOptions.test_size,
    test_per_class: int = DataOptions.test_per_class,
    drop_overlap: bool = DataOptions.drop_overlap,
    skip_bad_lines: bool = DataOptions.skip_bad_lines,
    sha256: str | None = DataOptions.sha256,
    encoding: str = DataOptions.encoding,
    context_size: int = DataOptions.context_size,
) -> datasets.DatasetDict:
    """Build the train / validation / test DatasetDict with a class-balanced train split.

    Args:
        source: anything :func:`movie_gender.load_cornell` accepts, or an already loaded corpus Dataset.
        split: ``"movie"`` (whole movies in one split only), ``"random"`` (stratified by line) or ``"tutorial"``
            (the first ``test_per_class`` lines of each gender in corpus order are test).
        balance: ``"oversample"`` (RandomOverSampler, the tutorial's choice), ``"undersample"`` or ``"none"``;
            applied to train only, after splitting.
        seed: makes the split and the resampling deterministic.
        validation_size: fraction of the (non-empty) lines for validation.
        test_size: fraction of the (non-empty) lines for test; unused by ``"tutorial"``.
        test_per_class: lines per gender held out by ``split="tutorial"``.
        drop_overlap: drop lines whose normalised text also occurs in a higher-priority split
            (test > validation > train), so "Yes." cannot sit in both train and test.
        skip_bad_lines: count and skip malformed corpus lines instead of stopping (:func:`movie_gender.load_cornell`).
        sha256: the expected sha256 of the corpus file (:func:`movie_gender.load_cornell`).
        encoding: the corpus text encoding (:func:`movie_gender.load_cornell`).
        context_size: the most lines of other speakers in ``context`` before, and again after, each line (passed
            to :func:`movie_gender.load_cornell`; 0: empty context).
    """
    options = DataOptions(
        split=split,
        balance=balance,
        seed=seed,
        validation_size=validation_size,
        test_size=test_size,
        test_per_class=test_per_class,
        drop_overlap=drop_overlap,
        skip_bad_lines=skip_bad_lines,
        sha256=sha256,
        encoding=encoding,
        context_size=context_size,
    )
    return prepare_dataset(source, options)[0]


def split_protocol(split: str | None, test_per_class: int | None = None) -> str:
    """How the lines were split, in words (the dataset card and the model card both say it this way)."""
    if split == "movie":
        return "split by movie: no movie appears in two splits"
    if split == "random":
        return "random split by line, stratified by gender"
    if split == "tutorial":
        return f"the tutorial's split: the first {test_per_class or 0:,} lines of each gender (corpus order) are test"
    return "a prepared dataset"


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _dataset_info(dataset: datasets.DatasetDict) -> dict:
    """The card's ``dataset_info`` (features and split sizes) as ``datasets`` itself writes it into a card."""
    splits = datasets.SplitDict()
    for name, part in dataset.items():
        splits.add(datasets.SplitInfo(name, num_bytes=int(part.data.nbytes), num_examples=len(part)))
    info = datasets.DatasetInfo(features=next(iter(dataset.values())).features, splits=splits, config_name="default")
    card_data = DatasetCardData()
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    return card_data.to_dict()


def render_dataset_card(dataset: datasets.DatasetDict, report: DatasetReport | None = None) -> str:
    """The dataset card (README.md): YAML metadata the Hub and ``load_dataset`` read, then the protocol."""
    total = sum(len(d) for d in dataset.values())
    metadata = {
        "pretty_name": "Cornell Movie-Dialogs: speaker gender",
        "language": ["en"],
        "license": "other",
        "task_categories": ["text-classification"],
        "tags": ["movie-gender", "cornell-movie-dialogs", "gender"],
        "size_categories": [_size_category(total)],
        "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in dataset]}],
        **_dataset_info(dataset),
    }
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).rstrip(),
        "---",
        "",
        "# Cornell Movie-Dialogs: speaker gender",
        "",
        "Lines of movie dialogue labelled with the gender of the character who speaks them (`label`: 0 = male, "
        "1 = female), built by the `movie-gender` package from the "
        "[Cornell Movie-Dialogs Corpus](https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html): "
        "`movie_lines.txt` joined with `movie_characters_metadata.txt` on the character id, keeping the "
        "characters whose gender is `m` or `f`.",
        "",
        "## Splits",
        "",
        "| split | lines | male | female | movies |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, part in dataset.items():
        counts = report.class_counts.get(name, {}) if report else {}
        movies = report.movies.get(name, "") if report else ""
        lines.append(f"| {name} | {len(part):,} | {counts.get('male', 0):,} | {counts.get('female', 0):,} | {movies} |")
    if report is not None:
        protocol = split_protocol(report.split, report.test_per_class)
        corpus = report.corpus
        lines += [
            "",
            "## How it was built",
            "",
            f"- Source: `{corpus.get('source', '')}`: {corpus.get('lines_read', 0):,} lines read, "
            f"{corpus.get('male', 0):,} male and {corpus.get('female', 0):,} female lines kept, "
            f"{corpus.get('unknown_gender', 0):,} lines of unknown gender dropped "
            f"(the full corpus gives {FULL_CORPUS['male']:,} male / {FULL_CORPUS['female']:,} female).",
            f"- Malformed lines skipped: {corpus.get('skipped_bad_lines', 0)}; "
            f"empty lines dropped: {report.empty_lines_dropped}.",
            *_conversation_lines(corpus),
            f"- Split `{report.split}` (seed {report.seed}): {protocol}; validation {report.validation_size:.0%}"
            + ("" if report.split == "tutorial" else f", test {report.test_size:.0%}")
            + ".",
            "- Cross-split duplicates: "
            + (
                f"dropped {report.overlap_dropped} (test > validation > train)"
                if report.drop_overlap
                else "kept (the same text may occur in several splits)"
            )
            + ".",
            f"- Balancing: `{report.balance}` on train only, after splitting; train before balancing: "
            f"{report.train_before_balance.get('male', 0):,} male / "
            f"{report.train_before_balance.get('female', 0):,} female. "
            "Validation and test keep the natural class ratio and hold each line once.",
        ]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("ORG/cornell-movie-gender")',
        "```",
        "",
        "## Licence and citation",
        "",
        "The corpus is distributed by Cornell for research; check its terms before redistribution. Gender labels "
        "are the binary labels of the 2011 metadata, not self-identification.",
        "",
        *CITATION,
        "",
    ]
    return "\n".join(lines)


def _conversation_lines(corpus: dict) -> list[str]:
    """The card's lines on the conversation columns, from the corpus statistics (none for a Dataset given as is)."""
    source = corpus.get("conversations_source")
    if not source:
        return []
    k = corpus.get("context_size", 0)
    if source == "movie_conversations.txt":
        how = "the exchanges listed in the corpus' `movie_conversations.txt`"
        if corpus.get("lines_outside_conversations"):
            how += f" ({corpus['lines_outside_conversations']:,} lines it does not list are conversations of their own)"
    else:
        how = (
            "derived from line-id adjacency (the corpus has no `movie_conversations.txt`): lines of one movie with "
            "consecutive numeric ids form one exchange, so two exchanges that follow each other without a gap in "
            "the ids count as one"
        )
    lines = f"{k} line" if k == 1 else f"{k} lines"
    return [
        f"- Conversations ({corpus.get('conversations', 0):,}): {how}. `conversation_id` is `MOVIE:FIRST_LINE_ID`, "
        "`turn` the line's 0-based position in it.",
        f"- `context`: up to {lines} spoken by other characters just before the line, then up to {lines} just "
        "after it, within its conversation and in the order spoken; the speaker's own lines are skipped, and "
        "lines of characters of unknown gender count (they are dropped as examples, not as context). "
        "A model that reads `context` uses what other characters say, not only the speaker's words.",
    ]


def save_dataset(dataset: datasets.DatasetDict, output: str | os.PathLike, report: DatasetReport | None = None) -> Path:
    """Write parquet shards (``data/{split}-00000-of-00001.parquet``) and the card (README.md), as on the Hub.

    ``load_dataset(output)`` and ``load_dataset("parquet", data_dir=output)`` then return the same DatasetDict.
    The folder is replaced whole and in one step (written as a temporary sibling, flushed, swapped into place), so
    a reader never finds one build's train beside another build's validation or test; other files in it stay.
    """
    output = Path(output)
    dataset = datasets.DatasetDict({name: part.flatten_indices() for name, part in dataset.items()})
    with atomic_folder(output, replaces=("README.md", "data")) as tmp:
        (tmp / "data").mkdir()
        for name, part in dataset.items():
            part.to_parquet(str(tmp / "data" / f"{name}-00000-of-00001.parquet"))
        (tmp / "README.md").write_text(render_dataset_card(dataset, report), encoding="utf-8")
    return output
