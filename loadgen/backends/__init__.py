"""Wire protocols: request bodies and incremental stream parsers (pure, no I/O)."""
