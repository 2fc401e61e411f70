"""Sequence (text) models: units of character-level networks, read at every character.

The built-in `text-toy` is a character LSTM trained on the code world (`codeworld.py`), a
procedural code-like text whose every character carries ground truth (bracket depth, inside a
string or comment, position in line, ...), written as a labelled corpus (`corpus.py`).
"""
