"""Publishing: the model users load (``classifier``: ``BiLSTMClassifier``, with its run record and card), the folder
a training run writes (``model_folder``: ``train_model``), every card, rendered from the templates in
``movie_gender/templates`` (``cards``, ``folder_cards``: the model card and the export README; ``dataset_cards``),
dataset folders (``dataset_folder``), the ONNX export (``export``), and model, dataset and Space folders pushed
(``publish``)."""
