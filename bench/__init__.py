"""dodo-mcp benchmarks: `python bench/run.py` (or `python -m bench`). See BENCHMARKS.md."""
