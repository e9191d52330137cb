"""Stand-alone measurement and training scripts, each run as `python -m evaluation.scripts.NAME`."""
