"""Measuring Isnad: open-domain QA evaluation (`isnad eval`) and load and indexing benchmarks (`isnad bench`)."""
