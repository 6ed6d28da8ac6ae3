"""Where measurements go: local JSONL files (the default) and InfluxDB."""
