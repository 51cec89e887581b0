"""Adapters: each module reads or writes exactly one outside system and returns core values."""
