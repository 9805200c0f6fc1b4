"""Haystack sources (generated, noise, files, fetched corpora), corpus cache and builder."""
