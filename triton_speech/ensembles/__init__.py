"""One description per Triton model and ensemble, and the builder that writes the model repository."""
