"""Train the movie-gender BiLSTM and write a model folder ready to publish.

Builds the DatasetDict (or loads one with --dataset), trains the tokenizer on train, aligns GloVe, trains with
early stopping on validation ROC-AUC, evaluates once on test beside two baselines, and writes OUTPUT/:
config.json, model.safetensors, tokenizer.json, README.md (model card), metrics.json and PNG plots.

Offline example with the files in ../shared/data:
    python scripts/train.py --corpus ../shared/data/cornell_movie_dialogs_corpus.sample.zip \\
        --glove ../shared/data/glove.6B.50d.txt.gz --output out/model
The tutorial's setup (a preset only sets defaults; explicit options win):
    python scripts/train.py --preset tutorial --split movie --max-steps 200 ...
"""

from __future__ import annotations

import argparse
import logging

from movie_gender.commands import common
from movie_gender.corpus import DEFAULT_URL
from movie_gender.dataset import BALANCE_MODES, SPLIT_MODES
from movie_gender.glove import DEFAULT_GLOVE, UNKNOWN_INIT
from movie_gender.modeling import POOLING
from movie_gender.pipeline import DataOptions, TrainOptions, train_model
from movie_gender.presets import PRESETS
from movie_gender.training import LR_SCHEDULES, TrainingConfig

logger = logging.getLogger("train")
MODEL_KEYS = ("hidden_size", "num_layers", "dropout", "pooling", "freeze_embeddings", "bidirectional")
TRAINING_KEYS = ("epochs", "batch_size", "learning_rate", "lr_schedule", "weight_decay", "max_steps", "patience", "grad_clip",
                 "bucket_batches", "bf16", "device", "seed", "checkpoint_every")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(prog="movie-gender train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="default: a small, fast BiLSTM that works best on CPU; tutorial: the seed tutorial exactly. "
                        "Options below marked (preset) take the preset's value unless given (default: %(default)s)")
    data = p.add_argument_group("data")
    data.add_argument("--corpus", default=DEFAULT_URL, help="corpus URL, zip, folder or collated file (default: the official zip)")
    data.add_argument("--sha256", help="expected sha256 of the corpus zip/file: a download (or cached copy) that differs "
                                       "is refused (default: not checked)")
    data.add_argument("--dataset", help="a saved DatasetDict folder or Hub dataset repo id to use instead of --corpus")
    data.add_argument("--split", choices=SPLIT_MODES, help="how to split train/validation/test (preset)")
    data.add_argument("--balance", choices=BALANCE_MODES, help="how to balance train, after splitting (preset)")
    data.add_argument("--validation-size", type=common.fraction, default=0.1, help="validation fraction (default: %(default)s)")
    data.add_argument("--test-size", type=common.fraction, default=0.1, help="test fraction, unused by --split tutorial (default: %(default)s)")
    data.add_argument("--test-per-class", type=common.positive_int, default=10_000,
                      help="--split tutorial: test lines per gender (default: %(default)s)")
    data.add_argument("--drop-overlap", action="store_true", help="drop lines whose normalised text occurs in a higher-priority split")
    data.add_argument("--skip-bad-lines", action="store_true", help="count and skip malformed corpus lines instead of stopping")
    data.add_argument("--encoding", default="latin-1", help="corpus text encoding; upstream is ISO-8859-1 (default: %(default)s)")
    vocab = p.add_argument_group("vocabulary and embeddings")
    vocab.add_argument("--glove", default=DEFAULT_GLOVE,
                       help="GloVe URL, .zip, .txt or .txt.gz (default: the official glove.6B.zip, member glove.6B.200d.txt)")
    vocab.add_argument("--glove-sha256", help="expected sha256 of the GloVe file or zip: a download (or cached copy) "
                                              "that differs is refused (default: not checked)")
    vocab.add_argument("--glove-member", help="the file inside a GloVe zip (default: glove.6B.200d.txt)")
    vocab.add_argument("--unknown-init", choices=UNKNOWN_INIT, default="zeros",
                       help="vectors of words GloVe lacks: zeros (the tutorial) or small random (default: %(default)s)")
    vocab.add_argument("--min-frequency", type=common.positive_int, default=1, help="words seen fewer times in train become [UNK] (default: %(default)s)")
    vocab.add_argument("--max-vocab-size", type=common.positive_int, help="keep only the most frequent words (default: all)")
    vocab.add_argument("--max-length", type=common.positive_int, default=128, help="truncate lines to this many tokens (default: %(default)s)")
    model = p.add_argument_group("model")
    model.add_argument("--hidden-size", type=common.positive_int, help="LSTM hidden size per direction (preset)")
    model.add_argument("--num-layers", type=common.positive_int, help="stacked LSTM layers (preset)")
    model.add_argument("--dropout", type=float, help="dropout between LSTM layers and in the classifier head (preset)")
    model.add_argument("--pooling", choices=POOLING, help="last: final hidden states (tutorial); max / mean_max over time (preset)")
    emb = model.add_mutually_exclusive_group()
    emb.add_argument("--freeze-embeddings", dest="freeze_embeddings", action="store_true", default=None,
                     help="keep the GloVe vectors fixed (preset)")
    emb.add_argument("--finetune-embeddings", dest="freeze_embeddings", action="store_false",
                     help="train the GloVe vectors too (preset)")
    model.add_argument("--unidirectional", dest="bidirectional", action="store_false", default=True,
                       help="a forward-only LSTM instead of a bidirectional one")
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=common.positive_int, help="maximum epochs (preset)")
    opt.add_argument("--batch-size", type=common.positive_int, help="lines per optimizer step (preset)")
    opt.add_argument("--learning-rate", "--lr", type=common.positive_float, help="Adam learning rate (preset)")
    opt.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                     help="linear: decay the learning rate to 0 over the planned steps; constant: as the tutorial (preset)")
    opt.add_argument("--weight-decay", type=float, default=0.0, help="Adam weight decay (default: %(default)s)")
    opt.add_argument("--patience", type=common.non_negative_int, help="early stopping: epochs without a better validation ROC-AUC; 0 = off (preset)")
    opt.add_argument("--grad-clip", type=float, help="max gradient norm, 0 = off (preset)")
    opt.add_argument("--max-steps", type=common.positive_int, help="stop after this many optimizer steps (quick runs)")
    opt.add_argument("--bucket-batches", type=common.positive_int, default=50,
                     help="batches per length bucket; 1 = plain shuffled batches (default: %(default)s)")
    opt.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                     help="auto: bf16 autocast where the hardware supports it and it is faster (CUDA; AMX/AVX-512 CPUs for "
                          "hidden size >= 128) (default: %(default)s)")
    opt.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 ... (default: %(default)s)")
    opt.add_argument("--seed", type=int, default=42, help="seed for the split, initialisation and batch order (default: %(default)s)")
    out = p.add_argument_group("output and resuming")
    out.add_argument("--output", required=True, help="the model folder to write")
    out.add_argument("--checkpoint-dir", help="where resumable checkpoints go (default: OUTPUT.checkpoints, never pushed)")
    out.add_argument("--checkpoint-every", type=common.non_negative_int, default=500,
                     help="also checkpoint every N steps; 0 = only at the end of each epoch (default: %(default)s)")
    out.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    ev = p.add_argument_group("evaluation")
    ev.add_argument("--min-lines", type=common.positive_int, default=5, help="character level: characters with at least N lines (default: %(default)s)")
    ev.add_argument("--bootstrap", type=common.non_negative_int, default=1000, help="bootstrap resamples for 95%% intervals; 0 = none (default: %(default)s)")
    ev.add_argument("--push-to-hub", metavar="REPO_ID", help="publish the model folder to this Hub model repo when done")
    ev.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo as private")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not 0 <= args.dropout < 1:
        p.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.grad_clip < 0 or args.weight_decay < 0:
        p.error("--grad-clip and --weight-decay must be 0 or more")
    return args


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    bf16 = {"auto": None, "bf16": True, "fp32": False}[args.precision]
    training = TrainingConfig(**{k: getattr(args, k) for k in TRAINING_KEYS if k != "bf16"}, bf16=bf16)
    data = DataOptions(corpus=args.corpus, dataset=args.dataset, split=args.split, balance=args.balance, seed=args.seed,
                       validation_size=args.validation_size, test_size=args.test_size,
                       test_per_class=args.test_per_class, drop_overlap=args.drop_overlap,
                       skip_bad_lines=args.skip_bad_lines, encoding=args.encoding, sha256=args.sha256)
    return TrainOptions(output=args.output, data=data, glove=args.glove, glove_member=args.glove_member,
                        glove_sha256=args.glove_sha256,
                        unknown_init=args.unknown_init, min_frequency=args.min_frequency,
                        max_vocab_size=args.max_vocab_size, max_length=args.max_length,
                        model={k: getattr(args, k) for k in MODEL_KEYS}, training=training,
                        checkpoint_dir=args.checkpoint_dir, resume=args.resume, min_lines=args.min_lines,
                        bootstrap=args.bootstrap, preset=args.preset)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.setup_logging(args.verbose)
    metrics = train_model(options_from_args(args))
    line = metrics["line"]
    logger.info("Test ROC-AUC: model %.3f, TF-IDF %.3f; balanced accuracy: model %.3f, TF-IDF %.3f",
                line["model"]["roc_auc"], line["tfidf_logreg"]["roc_auc"], line["model"]["balanced_accuracy"],
                line["tfidf_logreg"]["balanced_accuracy"])
    if args.push_to_hub:
        from movie_gender.hub import push_model

        logger.info("Pushed: %s", push_model(args.output, args.push_to_hub, private=args.private))


if __name__ == "__main__":
    common.run(main)
