"""Named presets: typed overrides of the library defaults (:mod:`movie_gender.configuration`).

``default`` is the library defaults themselves; every other preset states only what it changes, in the config
dataclasses' own fields (so a typo or an impossible value fails at import). A preset only sets defaults: options
given explicitly on the command line win.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from movie_gender.configuration import BiLSTMConfig, DataOptions, TrainingConfig


@dataclass(frozen=True)
class Preset:
    """A named starting point: data, model and training settings, with one line on what it is for."""

    description: str
    data: DataOptions = field(default_factory=DataOptions)
    model: BiLSTMConfig = field(default_factory=BiLSTMConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def configs(self) -> tuple[DataOptions, BiLSTMConfig, TrainingConfig]:
        """The three configs, in the order data, model, training."""
        return self.data, self.model, self.training

    def overrides(self) -> dict[str, object]:
        """The settings that differ from the library defaults, by field name."""
        changed = {}
        for config in self.configs():
            default = type(config)()
            changed.update(
                {
                    f.name: getattr(config, f.name)
                    for f in fields(config)
                    if getattr(config, f.name) != getattr(default, f.name)
                }
            )
        return changed


PRESETS: dict[str, Preset] = {
    # The library defaults: see movie_gender.configuration and README, "Presets: why the default differs".
    "default": Preset(
        "a small, fast BiLSTM over GloVe plus a bag of words (1-2 grams), the best in 5-fold cross-validation on "
        "the sample"
    ),
    # A single-line BiLSTM of the default's size plus a second BiLSTM over the conversation around each line (up to
    # --context-size lines of other speakers before and after it), the two pooled feature vectors joined before the
    # head (README, "Beyond the single line"). 2 epochs: what trains on the sample within the CPU budget. Frozen
    # GloVe at lr 3e-3 and no bag of words: with the default's bag of words (on the line and, separately, on the
    # context) and fine-tuned GloVe the model overfitted the context words and scored lower in cross-validation
    # (line ROC-AUC 0.607 and 0.607 against 0.630 and 0.625 in the first two folds).
    "context": Preset(
        "a BiLSTM over the line plus a second BiLSTM over the other speakers' lines around it",
        model=BiLSTMConfig(context_encoder="separate", freeze_embeddings=True, bag_of_words=False, word_dropout=0.0),
        training=TrainingConfig(epochs=2, learning_rate=3e-3),
    ),
    # The character model (docs/character-model.md): a bag of the words of each line (one logistic regression over
    # every train line, its columns weighed by idf), bags of all the words a character says and hears (one logistic
    # regression over the train characters, its C chosen on validation),
    # and minus a weight times the score of the characters it talks to (the partner term: character_partner_weight
    # > 0 switches it on; training replaces the value by the one it fits on the run's own validation characters,
    # model.partners.WEIGHT_GRID).
    # epochs=0: no neural stage on the bags. Trained on top (--epochs 4: the BiLSTM and the attention on character
    # labels) it scored below these convex parts with their partner term in paired --cv 5 (docs/character-model.md),
    # so the bags' BiLSTM output layer and the attention's last layer stay exactly 0 and scoring runs no LSTM there
    # (model.character_model.neural_parts_idle). context_view_epochs=3: the network that did earn its place, the
    # context preset's (a BiLSTM over each line and one over the lines around it, trained on line labels at a
    # learning rate of its own, training.context_view.LEARNING_RATE), beside the bags: its characters' mean
    # log-odds, with a partner term of their own, mixed in at a weight chosen on validation (model.context_view;
    # dropped where that weight is 0). Its third epoch was kept by the view's validation lines under a rule set before
    # the run, once the fold had the time for it (docs/character-model.md). line_context_bag=False: no bag of the
    # words said around each line; with the partner term it scored below the convex stage without it on the
    # validation characters of 15 folds, under a rule set in advance (docs/character-model.md).
    "character": Preset(
        "a character model: bags of the words a character says (per line and whole) and hears (whole), the scores of "
        "the characters it talks to, plus a context BiLSTM's view of its lines at a weight chosen on validation",
        model=BiLSTMConfig(
            character_pooling="attention",
            freeze_embeddings=True,
            word_dropout=0.2,
            character_partner_weight=0.75,
            line_context_bag=False,
        ),
        training=TrainingConfig(
            epochs=0,
            batch_size=8,
            learning_rate=3e-3,
            patience=2,
            character_lines=24,
            line_loss_weight=1.0,
            context_view_epochs=3,
        ),
    ),
    # The seed tutorial, exactly: glove.6B.200d (the default GloVe), 4 x 256 BiLSTM on the final hidden states, no
    # bag of words, no word dropout, dropout 0.2, fine-tuned embeddings, Adam 1e-3 constant, batch 256, 25 epochs
    # without early stopping or gradient clipping, the first 10,000 lines of each gender as test.
    "tutorial": Preset(
        "the seed tutorial exactly",
        data=DataOptions(split="tutorial"),
        model=BiLSTMConfig(
            hidden_size=256,
            num_layers=4,
            dropout=0.2,
            pooling="last",
            freeze_embeddings=False,
            bag_of_words=False,
            word_dropout=0.0,
        ),
        training=TrainingConfig(epochs=25, learning_rate=1e-3, lr_schedule="constant", patience=0, grad_clip=0.0),
    ),
}
