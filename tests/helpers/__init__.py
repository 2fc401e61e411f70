"""Shared test helpers, imported as `helpers.X` (tests/ is on sys.path).

nets: tiny planted networks with known answers, small random ones, model-spec factories.
broden: in-memory Broden datasets with planted labels, and Broden folders written on disk.
cli: running `unitscope` in-process and asserting a refusal is one 'unitscope: error:' line.
runs: a crafted run directory with every verb's artifacts, the explorer site and its links.
"""
