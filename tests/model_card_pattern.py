"""The whole rendered model card as a pattern (as setfit's tests/model_card_pattern.py): literal text, with
``{num}`` (a number), ``{ci}`` (a 95% interval), ``{version}`` and ``{text}`` (one line) wildcards; ``(?:a|b)`` is
kept as regex. The card is rendered for the repo org/movie-gender-bilstm, the dataset org/cornell-movie-gender and
the examples of tests/test_model_card.py::full_metrics, without plots (as push_to_hub
uploads it)."""

from __future__ import annotations

import re

WILDCARDS = {
    "{num}": r"[+-]?\d{1,3}(?:,\d{3})*(?:\.\d+)?",
    "{ci}": r"\[[+-]?\d+\.\d+, [+-]?\d+\.\d+\]",
    "{version}": r"[\w.+-]+",
    "{text}": r"[^\n|]+",
}
# regex kept as is in CARD: (?:...|...) groups and the escaped parentheses \( \)
_TOKEN = re.compile(r"(\{num\}|\{ci\}|\{version\}|\{text\}|\(\?:[^)]*\)|\\\(|\\\))")


def compile_card(card: str) -> re.Pattern:
    """Escape the literal text of ``card``; wildcards and (?:a|b) groups stay regex; a final newline is optional."""
    parts = []
    for piece in _TOKEN.split(card.rstrip("\n")):
        if piece in WILDCARDS:
            parts.append(WILDCARDS[piece])
        elif _TOKEN.fullmatch(piece):
            parts.append(piece)
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts).rstrip("\n") + "\n?")


CARD = r"""---
datasets:
- org/cornell-movie-gender
language: en
library_name: movie-gender
license: mit
metrics:
- roc_auc
- average_precision
- balanced_accuracy
- f1
pipeline_tag: text-classification
tags:
- bilstm
- gender
- glove
- model_hub_mixin
- movie-dialogue
- movie-gender
- pytorch_model_hub_mixin
- text-classification
widget:
- text: I'll be in the car, darling.
  example_title: female character (validation line)
- text: Honey, the dress | is lovely.
  example_title: female character (validation line)
- text: Get the gun, buddy!
  example_title: male character (validation line)
model-index:
- name: movie-gender-bilstm
  results:
  - task:
      type: text-classification
    dataset:
      name: Cornell Movie-Dialogs (speaker gender)
      type: org/cornell-movie-gender
      split: test
    metrics:
    - type: roc_auc
      value: {num}
      name: ROC-AUC
    - type: average_precision
      value: {num}
      name: average precision
    - type: balanced_accuracy
      value: {num}
      name: balanced accuracy
    - type: macro_f1
      value: {num}
      name: macro F1
---

# movie-gender-bilstm

A bidirectional LSTM over GloVe word vectors that reads **one line of movie dialogue** and estimates the
probability that the character who says it is labelled *female* (versus *male*) in the Cornell Movie-Dialogs
Corpus metadata. Built with [movie-gender](https://github.com/movie-gender/movie-gender), a modern, honest reproduction of the tutorial
"Identifying the Gender of a Movie Character with Deep Learning, NLP, and PyTorch".

## Usage

```bash
pip install movie-gender
```

```python
from movie_gender import BiLSTMClassifier

model = BiLSTMClassifier.from_pretrained("org/movie-gender-bilstm")
model.predict(["I'll be in the car, darling."])  # [{"label": ..., "score": ...}]
model.predict_proba(["Get the gun."])            # P(female), a numpy array
```

Or from the command line: `movie-gender predict org/movie-gender-bilstm "I'll be in the car, darling."`.
The data it was trained on: `datasets.load_dataset("org/cornell-movie-gender")`.

Install the torch build for your hardware first if you need CUDA (see the [project README](https://github.com/movie-gender/movie-gender)).
Weights load from `model.safetensors` only, never from pickle files.

### Examples

Lines drawn at random from the validation split (never the test split), with the label of the character who says
them and this model's P(female):

| line | character | P(female) |
|---|---|---:|
| I'll be in the car, darling. | female | {num} |
| Honey, the dress \| is lovely. | female | {num} |
| Get the gun, buddy! | male | {num} |

## Intended use

- Research and teaching: how much a single line of scripted dialogue reveals about how screenwriters wrote
  male and female characters, and how far a small model gets on that signal.
- Aggregated, corpus-level analyses of film dialogue (e.g. comparing scripts or decades), preferably at the
  character level (many lines), where the signal is stronger.

### Out of scope

- Inferring the gender of a real person from anything they wrote or said. The model knows nothing about real
  people; its labels are binary character metadata, and its errors are large.
- Any decision about individuals (hiring, moderation, profiling, access).

## Results

Evaluated once on the **test** split (split by movie: no movie appears in two splits). Scores are P(female); each scorer's threshold is chosen on the validation split, never on test.
Baselines are fitted on the same train lines. Intervals are 95% bootstrap intervals (1,000 resamples of whole movies, paired across scorers).

### Line level

Each line of dialogue scored on its own.

| scorer | lines | ROC-AUC | average precision | balanced accuracy | macro-F1 | threshold |
|---|---:|---:|---:|---:|---:|---:|
| **this model** | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| always male | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| TF-IDF (1-2 grams) + logistic regression | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| mean GloVe vector + logistic regression | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |

This model minus each baseline, on the same lines (paired bootstrap):

| baseline | ROC-AUC difference | balanced accuracy difference |
|---|---:|---:|
| always male | {num} {ci} | {num} {ci} |
| TF-IDF (1-2 grams) + logistic regression | {num} {ci} | {num} {ci} |
| mean GloVe vector + logistic regression | {num} {ci} | {num} {ci} |

### Character level

Each character with at least 5 lines in the split, scored by the mean log-odds of its lines. Baselines per character: the mean log-odds of their line scores, or one TF-IDF document per character.

| scorer | characters | ROC-AUC | average precision | balanced accuracy | macro-F1 | threshold |
|---|---:|---:|---:|---:|---:|---:|
| **this model** | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| always male | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| TF-IDF (1-2 grams) + logistic regression | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |
| mean GloVe vector + logistic regression | {num} | {num} {ci} | {num} {ci} | {num} {ci} | {num} | {num} |

This model minus each baseline, on the same characters (paired bootstrap):

| baseline | ROC-AUC difference | balanced accuracy difference |
|---|---:|---:|
| TF-IDF (1-2 grams) + logistic regression | {num} {ci} | {num} {ci} |

### Calibration

P(female) is calibrated: Platt scaling of the log-odds (scale x log-odds + bias), fitted per level on the validation
split (never test) and applied by `predict_proba`, `predict`, `predict_characters` and `movie-gender predict`; the
thresholds above are on this calibrated scale. Expected calibration error (ECE, 10 equal-mass bins) on
the test split, beside the ECE a perfectly calibrated scorer would show on as many examples (sampling noise
alone), and what a user who keeps only P(female) >= 0.9 finds:

| level | ECE raw | ECE calibrated | ECE from noise alone | P(female) >= 0.9: fraction female | calibration (fitted on) |
|---|---:|---:|---:|---:|---|
| lines | 0.201 | 0.012 | 0.011 | none with P >= 0.9 | 0.812 x log-odds -1.234 \(4,000 validation lines\) |
| characters | 0.180 | 0.041 | 0.127 | 88.9% female of 9 | 0.812 x log-odds -1.234 \(60 validation characters\) |

For comparison: the tutorial reported ~70% accuracy, but it oversampled before splitting, so copies of test lines
sat in train; plain TF-IDF scores about 0.76 that way. Honest line-level numbers are near 0.55-0.65.

## Data and split protocol

- Corpus: Cornell Movie-Dialogs Corpus (`cornell_movie_dialogs_corpus.zip`): {num} male and {num}
  female lines after joining `movie_lines.txt` with `movie_characters_metadata.txt`; characters of unknown gender
  dropped.
- Split: split by movie: no movie appears in two splits; sizes: train {num}, validation {num}, test {num}.
- Balancing: `oversample` on train only, after splitting; validation and test keep the natural class ratio.

## Training

| setting | value |
|---|---|
| architecture | {num} x {num} (?:bidirectional |)LSTM, (?:last|max|mean_max) pooling, fc {num} + ReLU, dropout {num}, plus a bag of words \(a weight per word and per word pair, {num} hashed rows\), word dropout {num} |
| embeddings | {text} \({num}d\), (?:frozen|fine-tuned) |
| vocabulary | {num} words (train split only); GloVe covers {num}% of them and {num}% of train tokens |
| optimisation | Adam, lr {num} (linear schedule), batch {num}, up to {num} epochs, early stopping patience {num}, gradient clip {num}, seed {num} |
| epochs run / best epoch | {num} / {num} (selected on validation ROC-AUC {num}) |
| hardware / precision | {text}, (?:fp32|bf16 autocast) |
| training time | {num} min training, {num} min in all (data, training, evaluation) |
| preset | `default` |

### Framework versions

Trained with:

- python: {version}
- movie-gender: {version}
- torch: {version}
- datasets: {version}
- tokenizers: {version}
- huggingface_hub: {version}
- safetensors: {version}

## Limitations and bias

- **Binary labels from 2011 metadata.** Gender here is the `m`/`f` field of the corpus' character metadata
  (characters marked `?` are dropped). It is not self-identified, it has no non-binary category, and it reflects
  how the annotators read the characters.
- **Films are a skewed sample.** 617 mostly Hollywood, mostly English-language films; female characters speak
  about 30% of the lines. The model learns the screenwriters' conventions of that sample, not how people talk.
- **It learns stereotypes.** Words such as terms of endearment, family roles, violence or profanity move the
  score; such cues encode and can amplify stereotypes. Inspect errors before drawing conclusions.
- **Weak signal per line.** Most lines ("Yes.", "What?") carry no gender signal; line-level scores are close to
  chance. Aggregate over many lines (character level) for anything meaningful.
- **Never use it to infer a real person's gender.**

## Citation

```bibtex
@InProceedings{Danescu-Niculescu-Mizil+Lee:11a,
  author={Cristian Danescu-Niculescu-Mizil and Lillian Lee},
  title={Chameleons in imagined conversations: A new approach to understanding coordination of linguistic style in dialogs.},
  booktitle={Proceedings of the Workshop on Cognitive Modeling and Computational Linguistics, ACL 2011},
  year={2011}
}
```
"""  # noqa: E501 (the card's own lines: the pattern must keep its line breaks)

MODEL_CARD_PATTERN = compile_card(CARD)
