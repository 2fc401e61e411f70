"""Shared test helpers: tiny planted networks, in-memory Broden fixtures, run-dir shortcuts."""
