"""`unitscope merge SHARD_OUT... --out DIR`: finish a dissection run as job-array shards."""

from __future__ import annotations

import argparse

from ._common import progress

VERB = "merge"
HELP = "finish a dissection whose pass 1 ran as `dissect --shard I/N` jobs (same files as one run)"
ORDER = 45


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", metavar="SHARD_OUT", help="the --out of each shard")
    parser.add_argument("--out", required=True, help="run directory for the finished dissection")


def run(args: argparse.Namespace) -> int:
    from ..dissect.merge import merge

    result = merge(args.shards, args.out, progress=progress(args))
    print(f"merge: {len(args.shards)} shards -> {len(result['layers'])} layers in "
          f"{args.out}/dissect/dissect.json")
    return 0
