"""Export a model folder (or Hub repo) to ONNX: model.onnx + tokenizer.json + config.json + a short README.

The exported graph takes input_ids and attention_mask (int64 [batch, time], dynamic axes) and returns logits
(float32 [batch], the log-odds of female); it is checked against PyTorch on a few lines after export (max |logit
difference| at most 1e-4). Scoring needs only onnxruntime, tokenizers and numpy (see DIR/README.md).
Needs the onnx extra: pip install 'movie-gender[onnx]'.

Example:
    movie-gender export out/model --format onnx --output out/model-onnx
"""

from __future__ import annotations

import argparse
import logging

from movie_gender.commands import common

logger = logging.getLogger("export")


def build_parser() -> argparse.ArgumentParser:
    """The command line, every option with its help."""
    p = argparse.ArgumentParser(
        prog="movie-gender export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", help="a model folder written by `movie-gender train`, or a Hub model repo id")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="the export format (only onnx for now)")
    p.add_argument(
        "--output",
        required=True,
        help="the folder to write: new, empty, or an earlier export (which is replaced); a folder holding "
        "other files (e.g. the model folder itself) is refused",
    )
    p.add_argument("--opset", type=common.positive_int, default=17, help="the ONNX opset version (default: 17)")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    common.setup_logging(args.verbose)
    from movie_gender.hub.classifier import BiLSTMClassifier
    from movie_gender.hub.export import export_onnx

    model = BiLSTMClassifier.from_pretrained(args.model)
    path = export_onnx(model, args.output, opset=args.opset)
    logger.info("Wrote %s (with tokenizer.json, config.json and README.md)", path)


if __name__ == "__main__":
    common.run(main)
