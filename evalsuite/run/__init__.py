"""One run: lm-eval (or a native task) over the model, its records, and the run directory."""
