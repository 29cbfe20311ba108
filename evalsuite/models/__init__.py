"""Models: where a checkpoint comes from, the backends that serve it as an lm-eval LM, and
the wrappers every run puts around it (request cache, long-prompt guard)."""
