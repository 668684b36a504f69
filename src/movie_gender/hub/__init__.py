"""The Hugging Face Hub side: every card, rendered from the templates in ``movie_gender/templates`` (``cards``: the
model card and the export README; ``dataset_cards``: the dataset's and the completed corpus'), and model, dataset
and Space folders pushed and pulled (``publish``)."""
