"""`unitscope merge SHARD_OUT... --out DIR`: finish a dissection run as job-array shards."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import progress

VERB = "merge"
HELP = "finish a dissect or examples run done as `--shard I/N` jobs (the same files as one process)"
ORDER = 45


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", metavar="SHARD_OUT", help="the --out of each shard")
    parser.add_argument("--out", required=True, help="run directory for the finished dissection")


def run(args: argparse.Namespace) -> int:
    from ..dissect.merge import merge
    from ..errors import DataError
    from ..examples import merge_shards

    shards = [Path(shard) for shard in args.shards]
    markers = {"examples": "examples/shard.pt", "dissect": "dissect/.work/state.json"}
    verbs = [verb for verb, marker in markers.items() if (shards[0] / marker).is_file()]
    if not verbs:
        raise DataError(f"'{shards[0]}' holds no shard of examples or dissect; give the --out of each "
                        "`--shard I/N` run")
    for verb in verbs:
        if verb == "dissect":
            result = merge(shards, args.out, progress=progress(args))
            print(f"merge: {len(shards)} shards -> {len(result['layers'])} layers in {args.out}/dissect")
        else:
            result = merge_shards(shards, args.out)
            print(f"merge: {len(shards)} shards -> {len(result['units'])} units in {args.out}/examples")
    return 0
