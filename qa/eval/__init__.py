"""Evaluating the system on a question file: runs, records, scores, reports, TREC files."""
