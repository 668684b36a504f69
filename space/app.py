"""movie-gender demo: who speaks this movie line, a man or a woman? (a Gradio app, ready to be a Hugging Face Space)

The model comes from ``MOVIE_GENDER_MODEL`` (a Hub repo id or a model folder), else from ``DEFAULT_MODEL`` below,
which ``movie-gender push ... --space REPO_ID`` fills in. Run it locally with::

    MOVIE_GENDER_MODEL=out/model python space/app.py     # then open http://127.0.0.1:7860

Two boxes: one line (label, P(female), and the words that moved the score most, found by occlusion: each word is
removed in turn and the change in log-odds is reported), and many lines of one character (the character-level
estimate: the mean log-odds of its lines, calibrated as the model's config says, labelled with the model's character
threshold when it has one). Every P(female) shown is calibrated (Platt scaling fitted on validation at training).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no usage reports from the demo

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from movie_gender import BiLSTMClassifier  # noqa: E402
from movie_gender.inference.predictor import padded_logits  # noqa: E402
from movie_gender.labels import calibrated_probability, decision_threshold, is_female, label_names  # noqa: E402

DEFAULT_MODEL = "ORG/movie-gender-bilstm"  # filled in by `movie-gender push ... --space`
TOP_WORDS = 8
EXAMPLES = ["I'll be in the car, darling.", "Get the gun, we're leaving!", "Oh, you're such a sweetheart."]
CHARACTER_EXAMPLE = "Where's my dress?\nI'll be ready in a minute, honey.\nHe never listens to me."
DISCLAIMER = (
    "Trained on the Cornell Movie-Dialogs corpus, whose character metadata is binary. It guesses how "
    "screenwriters write characters; never use it to infer a real person's gender."
)


def model_name() -> str:
    """The model to serve: ``MOVIE_GENDER_MODEL`` or ``DEFAULT_MODEL``."""
    return os.environ.get("MOVIE_GENDER_MODEL") or DEFAULT_MODEL


def word_effects(model: BiLSTMClassifier, line: str) -> list[tuple[str, float, tuple[int, int]]]:
    """Occlusion: for each token of ``line``, the log-odds of the line minus the log-odds without that token
    (positive: the token pushed towards female), with its character span. Tokens in line order."""
    encoding = model.tokenizer.encode(line, add_special_tokens=False)
    ids = [i for i, m in zip(encoding.ids, encoding.attention_mask, strict=False) if m]
    if not ids:
        return []
    logits = padded_logits(model, [ids] + [ids[:i] + ids[i + 1 :] for i in range(len(ids))])
    spans = encoding.offsets[: len(ids)]
    return [(line[start:end], float(logits[0] - logits[i + 1]), (start, end)) for i, (start, end) in enumerate(spans)]


def highlight(line: str, effects: list[tuple[str, float, tuple[int, int]]]) -> list[tuple[str, float | None]]:
    """The whole line as (text, shade) segments for gr.HighlightedText: each token's effect relative to the largest
    one (from -1 to 1, so that the colours show); the text between tokens has none."""
    segments, position = [], 0
    largest = max((abs(effect) for _, effect, _ in effects), default=0.0) or 1.0
    for _, effect, (start, end) in effects:
        if start > position:
            segments.append((line[position:start], None))
        segments.append((line[start:end], round(effect / largest, 4)))
        position = end
    if position < len(line):
        segments.append((line[position:], None))
    return segments


def score_line(model: BiLSTMClassifier, line: str) -> tuple[str, float, list, list[list]]:
    """(label as model.predict gives it, P(female), highlighted words, the words that moved the score most)."""
    label = model.predict([line])[0]["label"]
    p_female = float(model.predict_proba([line])[0])
    effects = word_effects(model, line)
    strongest = sorted(effects, key=lambda item: -abs(item[1]))[:TOP_WORDS]
    names = model.config.id2label
    table = [[word, round(effect, 4), names["1" if effect > 0 else "0"]] for word, effect, _ in strongest]
    return label, round(p_female, 6), highlight(line, effects), table


def character_threshold(model: BiLSTMClassifier) -> float:
    """The model's character-level threshold on P(female) (from config.json), 0.5 if it has none."""
    return decision_threshold(model.config, "character")


def score_character(model: BiLSTMClassifier, text: str) -> tuple[str, float, float, int, str]:
    """Lines of one character (one per line of ``text``): (label, calibrated P(female) from the mean log-odds, the
    mean raw log-odds, number of lines, a note on the threshold used)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    threshold = character_threshold(model)
    source = (
        "the model's character threshold"
        if getattr(model.config, "character_threshold", None) is not None
        else "no character threshold in config.json, so 0.5"
    )
    if not lines:
        return "", 0.0, 0.0, 0, "Paste at least one line."
    mean_logit = float(np.mean(model.predict_logits(lines)))
    p_female = float(calibrated_probability(model.config, "character", [mean_logit], [len(lines)])[0])
    label = label_names(model.config, is_female(model.config, "character", [p_female]))[0]
    note = f"Labelled with P(female) >= {threshold:.3f} ({source})."
    return label, round(p_female, 6), round(mean_logit, 6), len(lines), note


def build_demo(model: BiLSTMClassifier, name: str) -> gr.Blocks:
    """The Gradio interface for ``model`` (``name``: its repo id or folder, shown in the header)."""
    with gr.Blocks(title="movie-gender") as demo:
        shown = os.path.basename(os.path.normpath(name)) if os.path.isdir(name) else name  # no local paths
        gr.Markdown(f"# movie-gender\nWho speaks this movie line, a man or a woman? Model: `{shown}`.\n\n{DISCLAIMER}")
        with gr.Tab("One line"):
            line = gr.Textbox(label="A line of dialogue", lines=2, value=EXAMPLES[0])
            button = gr.Button("Score the line", variant="primary")
            with gr.Row():
                label = gr.Textbox(label="Predicted label")
                p_female = gr.Number(label="P(female)", value=None)
            highlighted = gr.HighlightedText(
                label="Words: effect on the log-odds of female, relative to the strongest (positive: towards female)"
            )
            table = gr.Dataframe(
                headers=["word", "effect on log-odds", "towards"], label="Words that moved the score most"
            )
            gr.Examples(EXAMPLES, inputs=line)
            outputs = [label, p_female, highlighted, table]
            gr.on(
                [demo.load, button.click, line.submit],
                lambda text: score_line(model, text),
                inputs=line,
                outputs=outputs,
                api_name="score_line",
            )
        with gr.Tab("One character"):
            lines = gr.Textbox(label="Lines of one character, one per line", lines=8, placeholder=CHARACTER_EXAMPLE)
            character_button = gr.Button("Score the character", variant="primary")
            with gr.Row():
                character_label = gr.Textbox(label="Character label")
                character_p = gr.Number(label="P(female) from the mean log-odds", value=None)
                mean_logit = gr.Number(label="Mean log-odds", value=None)
                count = gr.Number(label="Lines", value=None)
            note = gr.Markdown()
            gr.on(
                [character_button.click],
                lambda text: score_character(model, text),
                inputs=lines,
                outputs=[character_label, character_p, mean_logit, count, note],
                api_name="score_character",
            )
    return demo


def main() -> None:
    name = model_name()
    build_demo(BiLSTMClassifier.from_pretrained(name), name).launch()


if __name__ == "__main__":
    main()
