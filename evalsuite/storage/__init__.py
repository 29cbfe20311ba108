"""Files and caches: atomic writes, secrets kept out, the cache root, fingerprints, wheels
fetched from PyPI, and the provenance every result records."""
