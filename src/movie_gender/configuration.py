"""Every setting of movie-gender and its default, in one place: reading the corpus, data, model, optimisation and the
training run. The defaults are the ``default`` preset (README, "Presets"); the other presets
(:mod:`movie_gender.presets`) override some of them.

Each field carries its help text (and how it appears on the command line) in its metadata, made with
:func:`setting`; the commands derive their options from these dataclasses, so a new setting is one field here. The
data stage takes them whole (:class:`CorpusSource` the corpus readers, :class:`DataOptions` the split);
BiLSTMConfig is saved as the model's config.json (plain JSON).
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from movie_gender.labels import check_calibration

# The official corpus zip: the default source of every command and function that reads the corpus.
DEFAULT_URL = "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
TOKENIZER_NAME = "tokenizer.json"
POOLING = ("last", "max", "mean_max")
# The defaults the stages share with the options here: lines of context before and after a line, the GloVe vectors,
# how words GloVe lacks start, the tokenizer's truncation, and the experiment trackers.
DEFAULT_CONTEXT_SIZE = 2
DEFAULT_GLOVE = "https://nlp.stanford.edu/data/glove.6B.zip"
UNKNOWN_INIT = ("zeros", "random")
DEFAULT_MAX_LENGTH = 128
REPORT_TO = ("none", "tensorboard")
# How a model reads the conversation around a line: none, shared (the line's BiLSTM) or separate (a second BiLSTM).
CONTEXT_ENCODERS = ("none", "shared", "separate")
# How lines become a character's score: none (a line model: mean log-odds, outside) or attention (a character model).
CHARACTER_POOLING = ("none", "attention")
LR_SCHEDULES = ("linear", "constant")
SPLIT_MODES = ("movie", "random", "tutorial")
BALANCE_MODES = ("oversample", "undersample", "none")


def setting(default: Any = MISSING, help: str = "", *, factory: Any = MISSING, **cli: Any) -> Any:
    """A dataclass field with its ``help`` and, optionally, how the command line shows it.

    The ``cli`` keys:
    - ``flags``: option strings (default: ``--field-name``); ``negative``: a flag that sets a bool to False,
      ``negative_help`` its help;
    - ``check``: "positive", "non_negative", "fraction" (strictly between 0 and 1) or "probability" ([0, 1));
    - ``choices``: allowed values; ``values``: command-line word -> field value (e.g. "fp32" -> False);
    - ``group``: the --help section; ``cli=False``: not a command-line option (set by the code, e.g. vocab_size).
    """
    metadata = {"help": help, **cli}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


GENDER_FIELD_HELP = (
    "a ConvoKit corpus: the speakers' metadata field that holds the gender, with Cornell's values m, f or ? "
    "(any case; others through --gender-map); a speaker without it is of unknown gender"
)
GENDER_MAP_HELP = "a ConvoKit corpus: more gender values, as VALUE=CODE pairs (CODE m, f or ?), e.g. 'female=f,male=m'"
GROUP_FIELD_HELP = (
    "a ConvoKit corpus: the utterances' (else their conversations') metadata field that names the movie or "
    "other group of a line; without it, the whole corpus is one group"
)


@dataclass
class CorpusSource:
    """Which corpus to read and how: what :func:`movie_gender.load_cornell` and the other corpus readers take.

    The command line's corpus-reading options (--sha256, --skip-bad-lines, --encoding of ``predict`` and
    ``label-characters``) are derived from these fields.
    """

    source: str | os.PathLike = setting(
        DEFAULT_URL,
        "the corpus: the official zip URL, an http(s)/file URL, a local zip, an extracted folder, the tutorial's "
        "collated 7-field file, or a ConvoKit corpus folder (utterances.jsonl, speakers.json, ...)",
        cli=False,
    )
    sha256: str | None = setting(None, "expected sha256 of the corpus zip/file; refused if it differs")
    skip_bad_lines: bool = setting(
        False, "count and skip malformed corpus lines (reported in the log) instead of stopping at the first"
    )
    encoding: str = setting("latin-1", "text encoding of the corpus files; upstream is ISO-8859-1")
    context_size: int = setting(
        DEFAULT_CONTEXT_SIZE,
        "K, the most lines of other speakers taken before, and again after, each line for its context (0: none)",
        cli=False,
    )
    include_unknown: bool = setting(
        False,
        "keep the lines of characters of unknown gender ('?') too, with label -1: for predictions, not for training",
        cli=False,
    )
    gender_field: str = setting("gender", GENDER_FIELD_HELP)
    gender_map: str | None = setting(None, GENDER_MAP_HELP)
    group_field: str = setting("movie_id", GROUP_FIELD_HELP)

    def __post_init__(self) -> None:
        size = self.context_size
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 0:  # numpy integers count
            raise ValueError(f"context_size must be an integer >= 0, got {size!r}")
        self.context_size = int(size)


@dataclass
class DataOptions:
    """Where the data comes from and how it is split and balanced (see :func:`movie_gender.build_dataset`)."""

    corpus: str = setting(
        DEFAULT_URL,
        "the corpus: the official zip URL, an http(s)/file:// URL, a local .zip, an "
        "extracted folder, the tutorial's collated 7-field file, or a ConvoKit corpus folder "
        "(docs/sources-convokit.md)",
    )
    dataset: str | None = setting(None, "a saved DatasetDict folder or Hub dataset repo id to use instead of --corpus")
    sha256: str | None = setting(CorpusSource.sha256, "expected sha256 of the corpus zip/file; refused if it differs")
    split: str = setting(
        "movie",
        "movie: whole movies in one split only (no movie leaks into test); random: stratified by line; "
        "tutorial: the first --test-per-class lines of each gender are test",
        choices=SPLIT_MODES,
    )
    balance: str = setting(
        "oversample",
        "how to balance the train split, only train and after splitting (validation "
        "and test keep the corpus's imbalance)",
        choices=BALANCE_MODES,
    )
    seed: int = setting(42, "seed for the split and the resampling (movie-gender train: --split-seed)")
    validation_size: float = setting(0.1, "fraction of lines for validation", check="fraction")
    test_size: float = setting(0.1, "fraction of lines for test; not used by --split tutorial", check="fraction")
    test_per_class: int = setting(
        10_000, "--split tutorial: lines of each gender held out as test, as in the tutorial", check="positive"
    )
    drop_overlap: bool = setting(
        False,
        "drop lines whose normalised text also occurs in a higher-priority split (test > validation > train)",
        negative="--no-drop-overlap",
        negative_help="keep every line, even one whose text also occurs in another split",
    )
    skip_bad_lines: bool = setting(
        CorpusSource.skip_bad_lines,
        "count and skip malformed corpus lines (reported in the log and the card) instead of stopping at the first",
    )
    encoding: str = setting(CorpusSource.encoding, "text encoding of the corpus files; upstream is ISO-8859-1")
    context_size: int = setting(
        CorpusSource.context_size,
        "the 'context' column: up to this many lines spoken by other characters before each line, and as many "
        "after it, within its conversation; 0 leaves it empty",
        check="non_negative",
    )
    gender_field: str = setting(CorpusSource.gender_field, GENDER_FIELD_HELP)
    gender_map: str | None = setting(CorpusSource.gender_map, GENDER_MAP_HELP)
    group_field: str = setting(CorpusSource.group_field, GROUP_FIELD_HELP)

    def reading(self, source: str | os.PathLike | None = None) -> CorpusSource:
        """How to read the corpus: ``source`` (default: :attr:`corpus`) with these options' reading settings."""
        return CorpusSource(
            self.corpus if source is None else source,
            sha256=self.sha256,
            skip_bad_lines=self.skip_bad_lines,
            encoding=self.encoding,
            context_size=self.context_size,
            gender_field=self.gender_field,
            gender_map=self.gender_map,
            group_field=self.group_field,
        )


# What a model saved before a setting existed has instead of it: config.json files written earlier lack the key.
BEFORE_FIELDS = {"bag_of_words": False, "word_dropout": 0.0}


@dataclass
class BiLSTMConfig:
    """Architecture and labels of a model (its config.json); the defaults are the ``default`` preset's."""

    vocab_size: int = setting(30_000, "rows of the embedding matrix (from the tokenizer)", cli=False)
    embedding_dim: int = setting(200, "GloVe vector size (from the GloVe file): glove.6B.200d by default", cli=False)
    hidden_size: int = setting(
        32,
        "LSTM hidden size per direction; 32 scored better on validation of the sample than 64, 128 or the "
        "tutorial's 256 (README, Presets)",
        check="positive",
    )
    num_layers: int = setting(1, "stacked LSTM layers", check="positive")
    bidirectional: bool = setting(
        True,
        "a bidirectional LSTM (reads the line both ways)",
        negative="--unidirectional",
        negative_help="a forward-only LSTM instead of a bidirectional one",
    )
    dropout: float = setting(0.5, "dropout between LSTM layers and in the classifier head", check="probability")
    pooling: str = setting(
        "mean_max",
        "how the LSTM outputs become one vector: last: the final hidden states (the "
        "tutorial); max / mean_max: over time, which uses every word of a long line",
        choices=POOLING,
    )
    freeze_embeddings: bool = setting(
        False,
        "keep the GloVe vectors fixed (fewer parameters) instead of training them with the rest",
        negative="--finetune-embeddings",
        negative_help="train the GloVe vectors too (the default, and the tutorial)",
    )
    bag_of_words: bool = setting(
        True,
        "add a bag of words to the BiLSTM's logit: a learned weight per word and per pair of adjacent words, summed "
        "over the line (divided by the square root of its length); it sees which words a line uses, where the LSTM "
        "sees their GloVe vectors (README, Presets)",
        negative="--no-bag-of-words",
        negative_help="the BiLSTM alone (the tutorial)",
    )
    bigram_buckets: int = setting(
        2**18,
        "rows of the bag of words' weights for pairs of adjacent words (hashed); 0: single words only",
        check="non_negative",
    )
    word_dropout: float = setting(
        0.4,
        "in training, drop each word of a line (its vector and its bag-of-words weights) with this probability",
        check="probability",
    )
    context_encoder: str = setting(
        "none",
        "how the model reads the conversation around a line: none: the line alone "
        "(no context weights); shared: the line's BiLSTM also reads the context; separate: a "
        "second BiLSTM of the same size reads it (the context preset)",
        choices=CONTEXT_ENCODERS,
    )
    context_size: int = setting(
        0,
        "K of the context the model was trained with (--context-size): up to K lines of "
        "other speakers before and after each line",
        cli=False,
    )
    character_pooling: str = setting(
        "none",
        "none: a line model (a character's P(female) is the mean log-odds of its lines); attention: a character "
        "model: each line's score weighed by a learned attention over the character's lines, plus a bag of the words "
        "it says and one of the words said around its lines, trained on character labels (the character preset)",
        choices=CHARACTER_POOLING,
    )
    character_bags: bool = setting(
        True,
        "character models: add bags of all the words a character says and hears (one TF-IDF-like document each) to "
        "its logit: a logistic regression on one row per train character, its C chosen on validation",
        negative="--no-character-bags",
        negative_help="character models: no character-level bags (the line-level bags of words stay)",
    )
    line_context_bag: bool = setting(
        True,
        "character models: add a bag of the words said around each line to the line's logit (the character preset "
        "has none: what is said around a character reaches it through its heard-words bag and the context view)",
        negative="--no-line-context-bag",
        negative_help="character models: no bag of the words said around each line",
    )
    character_partner_weight: float = setting(
        0.0,
        "character models: > 0 switches the partner term on (minus a weight times the mean score of the characters "
        "it talks to, weighed by the lines of their shared conversations); training fits the weight on the "
        "validation characters and saves it here; 0: no partner term",
        check="non_negative",
    )
    context_view: dict | None = setting(None, "character models: the context view (model.context_view)", cli=False)
    pad_token_id: int = setting(0, "id of [PAD] in the tokenizer", cli=False)
    unk_token_id: int = setting(1, "id of [UNK] in the tokenizer", cli=False)
    id2label: dict = setting(help="label names by id", factory=lambda: {"0": "male", "1": "female"}, cli=False)
    label2id: dict = setting(help="label ids by name", factory=lambda: {"male": 0, "female": 1}, cli=False)
    # Thresholds on calibrated P(female), chosen by training on validation (maximum balanced accuracy): female at >=.
    threshold: float = setting(
        0.5, "line-level decision threshold on (calibrated) P(female), chosen on validation", cli=False
    )
    model_type: str = setting("movie-gender-bilstm", "the model family, for loaders", cli=False)
    character_threshold: float = setting(
        0.5,
        "calibrated P(female) of a character (from the mean log-odds of its lines) at or above "
        "which predict_characters calls it female",
        cli=False,
    )
    # {"line": {"method": "platt", "scale", "bias", "n"}, "character": {...}} (movie_gender.evaluation.calibration)
    calibration: dict | None = setting(
        None, "Platt scaling of the log-odds per level (line, character), fitted on validation; None: raw", cli=False
    )

    def __post_init__(self) -> None:
        check_calibration(self.calibration)
        for name in ("threshold", "character_threshold"):
            value = getattr(self, name)
            if not (0 <= value <= 1 or value == math.nextafter(1.0, 2.0)):  # just above 1: nothing is female
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self._check_choices()
        self._check_sizes()
        self.id2label = {str(k): v for k, v in self.id2label.items()}

    def _check_choices(self) -> None:
        """Each setting with a fixed set of values holds one of them."""
        if self.pooling not in POOLING:
            raise ValueError(f"pooling must be one of {POOLING}, got {self.pooling!r}")
        if self.context_encoder not in CONTEXT_ENCODERS:
            raise ValueError(f"context_encoder must be one of {CONTEXT_ENCODERS}, got {self.context_encoder!r}")
        if self.character_pooling not in CHARACTER_POOLING:
            raise ValueError(f"character_pooling must be one of {CHARACTER_POOLING}, got {self.character_pooling!r}")

    def _check_sizes(self) -> None:
        """Sizes, counts and rates are in their ranges."""
        if self.context_size < 0:
            raise ValueError(f"context_size must be 0 or more, got {self.context_size}")
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "word_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.bigram_buckets < 0:
            raise ValueError(f"bigram_buckets must be 0 or more, got {self.bigram_buckets}")

    @property
    def line_context(self) -> bool:
        """True when each line is read with its context by the line encoder (context_encoder shared / separate)."""
        return self.context_encoder != "none"

    @property
    def is_character_model(self) -> bool:
        """True for a character model (``character_pooling`` other than none): it scores characters itself."""
        return self.character_pooling != "none"

    @property
    def uses_context(self) -> bool:
        """True for a model that reads the lines of other speakers around each line: a context model, and a
        character model (its bag of the words said around a character's lines)."""
        return self.line_context or self.is_character_model

    @classmethod
    def from_dict(cls, data: dict) -> BiLSTMConfig:
        """The config from a config.json dict; unknown keys are ignored, and a config.json written before a setting
        existed gets what such models had (``BEFORE_FIELDS``), not today's default."""
        known = {f.name for f in fields(cls)}
        return cls(**{**BEFORE_FIELDS, **{k: v for k, v in data.items() if k in known}})

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field."""
        return asdict(self)


@dataclass
class TrainingConfig:
    """Optimisation settings; the defaults are the ``default`` preset's (the architecture is in BiLSTMConfig)."""

    epochs: int = setting(
        10,
        "maximum epochs; early stopping usually ends sooner. Character models: of the neural "
        "stage on top of the bags; 0 = none, the bags and the partner term alone",
        check="non_negative",
    )
    batch_size: int = setting(
        256, "lines per optimizer step (the tutorial's); character models: characters per step", check="positive"
    )
    learning_rate: float = setting(
        1e-3,
        "Adam learning rate",
        check="positive",
        flags=("--learning-rate", "--lr"),
    )
    weight_decay: float = setting(0.0, "Adam weight decay", check="non_negative")
    max_steps: int | None = setting(
        None, "stop after this many optimizer steps in total (quick runs; default: no limit)", check="positive"
    )
    patience: int = setting(
        3, "early stopping: epochs without a better validation ROC-AUC; 0 = off", check="non_negative"
    )
    grad_clip: float = setting(1.0, "max gradient norm, 0 = off", check="non_negative")
    lr_schedule: str = setting(
        "linear",
        "linear: decay the learning rate to 0 over the planned steps; constant: as the tutorial",
        choices=LR_SCHEDULES,
    )
    bucket_batches: int = setting(
        50, "batches per length bucket (fewer padded steps); 1 = plain shuffled batches", check="positive"
    )
    bf16: bool | None = setting(
        None,
        "auto: bf16 autocast where the hardware has it natively and it is faster (CUDA; "
        "CPUs with AMX / AVX512_BF16, timed once per process); bf16 / fp32: always / never "
        "(also: MOVIE_GENDER_PRECISION=auto|bf16|fp32)",
        flags=("--precision",),
        values={"auto": None, "bf16": True, "fp32": False},
    )
    device: str = setting("auto", "auto (CUDA if available), cpu, cuda, cuda:1 ...")
    seed: int = setting(42, "seed for the model's initialisation and batch order; the data split has --split-seed")
    eval_batch_size: int = setting(512, "lines per batch when scoring validation", check="positive")
    line_loss_weight: float = setting(
        0.5,
        "character models: weight of the auxiliary loss on each line's own score beside the loss on the character",
        check="non_negative",
    )
    context_view_epochs: int = setting(
        0,
        "character models: also train the context preset's network on line labels for N epochs and add its "
        "characters' scores (own partner term) at a weight chosen on validation, kept if above 0; 0 = none",
        check="non_negative",
    )
    character_lines: int = setting(
        64,
        "character models: at most this many of a character's lines (a fresh random draw each epoch) per training "
        "step; 0 = all. Scoring always reads every line",
        check="non_negative",
    )
    checkpoint_every: int = setting(
        500,
        "also checkpoint every N steps; 0 = only at the end of each epoch",
        check="non_negative",
        group="output and resuming",
    )

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.bucket_batches < 1:
            raise ValueError("epochs must be at least 0, batch_size and bucket_batches at least 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be greater than 0, got {self.learning_rate}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")


VOCAB = "vocabulary and embeddings"


@dataclass
class TrainOptions:
    """One training run: data, vocabulary, GloVe, architecture, optimisation, output and evaluation."""

    output: str = setting(help="the model folder to write", group="output and resuming")
    data: DataOptions = setting(help="where the data comes from and how it is split", factory=DataOptions, cli=False)
    glove: str = setting(
        DEFAULT_GLOVE,
        "GloVe URL, .zip, .txt or .txt.gz (default: the official glove.6B.zip, member glove.6B.200d.txt)",
        group=VOCAB,
    )
    glove_member: str | None = setting(None, "the file inside a GloVe zip (default: glove.6B.200d.txt)", group=VOCAB)
    glove_sha256: str | None = setting(
        None,
        "expected sha256 of the GloVe file or zip: a download, or a cached copy, "
        "that differs is refused (default: not checked)",
        group=VOCAB,
    )
    unknown_init: str = setting(
        "zeros", "vectors of words GloVe lacks: zeros (the tutorial) or small random", choices=UNKNOWN_INIT, group=VOCAB
    )
    min_frequency: int = setting(1, "words seen fewer times in train become [UNK]", check="positive", group=VOCAB)
    max_vocab_size: int | None = setting(
        None, "keep only the most frequent words (default: all)", check="positive", group=VOCAB
    )
    max_length: int = setting(DEFAULT_MAX_LENGTH, "truncate lines to this many tokens", check="positive", group=VOCAB)
    model: BiLSTMConfig = setting(
        help="the architecture (vocab_size and embedding_dim come from the data)", factory=BiLSTMConfig, cli=False
    )
    training: TrainingConfig = setting(help="the optimisation settings", factory=TrainingConfig, cli=False)
    checkpoint_dir: str | None = setting(
        None,
        "where resumable checkpoints go (default: OUTPUT.checkpoints beside the output folder, never pushed)",
        group="output and resuming",
    )
    resume: bool = setting(False, "continue from the checkpoint in --checkpoint-dir", group="output and resuming")
    min_lines: int = setting(
        5, "character level: characters with at least N lines", check="positive", group="evaluation"
    )
    bootstrap: int = setting(
        1000, "bootstrap resamples over movies for 95% intervals; 0 = none", check="non_negative", group="evaluation"
    )
    bootstrap_unit: str = setting(
        "movie",
        "what the bootstrap resamples: whole movies (the lines of a movie are not independent; the same "
        "resamples for every scorer) or single lines (the old, too narrow intervals)",
        choices=("movie", "line"),
        group="evaluation",
    )
    preset: str = setting("custom", "the name of the preset the settings came from, for metrics.json", cli=False)
    report_to: str = setting(
        "none",
        "tensorboard: log the loss of every step and the validation metrics of every epoch (needs pip install "
        '"movie-gender[tracking]"); none: no tracking',
        choices=REPORT_TO,
        group="output and resuming",
    )
    logging_dir: str | None = setting(
        None,
        "where --report-to writes its logs (default: OUTPUT.logs beside the output folder, never pushed)",
        group="output and resuming",
    )

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):  # the older form: BiLSTMConfig fields other than vocab_size / embedding_dim
            self.model = BiLSTMConfig(**self.model)
