"""Reports from results directories: tables, scaling curves, comparisons."""
