"""Named training presets. A preset only sets defaults: options given explicitly on the command line win."""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    # What worked best on the validation split of the sample within a CPU budget (see README, "Why the default
    # differs from the tutorial"): a single small BiLSTM layer over frozen GloVe vectors, mean+max pooled.
    "default": {
        "split": "movie", "balance": "oversample", "context_encoder": "none",
        "hidden_size": 32, "num_layers": 1, "dropout": 0.5, "pooling": "mean_max", "freeze_embeddings": True,
        "epochs": 10, "batch_size": 256, "learning_rate": 3e-3, "lr_schedule": "linear", "patience": 3, "grad_clip": 1.0,
    },
    # The default's single-line BiLSTM plus a second BiLSTM over the conversation around each line (up to 2 lines of
    # other speakers before and after it), the two pooled feature vectors joined before the head (see README,
    # "Beyond the single line: conversation context").
    "context": {
        "split": "movie", "balance": "oversample", "context_encoder": "separate",
        "hidden_size": 32, "num_layers": 1, "dropout": 0.5, "pooling": "mean_max", "freeze_embeddings": True,
        "epochs": 2, "batch_size": 256, "learning_rate": 3e-3, "lr_schedule": "linear", "patience": 3, "grad_clip": 1.0,
    },
    # The seed tutorial, exactly: glove.6B.200d, 4 x 256 BiLSTM on the final hidden states, dropout 0.2, fine-tuned
    # embeddings, Adam 1e-3, batch 256, 25 epochs, the first 10,000 lines of each gender as test.
    "tutorial": {
        "split": "tutorial", "balance": "oversample", "context_encoder": "none",
        "hidden_size": 256, "num_layers": 4, "dropout": 0.2, "pooling": "last", "freeze_embeddings": False,
        "epochs": 25, "batch_size": 256, "learning_rate": 1e-3, "lr_schedule": "constant", "patience": 0, "grad_clip": 0.0,
    },
}
