"""Publishing on the Hugging Face Hub: model and dataset folders pushed and pulled (``publish``)."""
