"""One run over several processes gives the files of one process, byte for byte.

Real `torchrun --standalone --nproc-per-node 2` on the CPU (gloo, one thread per process), on a
small concept world cut into chunks of two batches, so each process gets several chunks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.broden import concept_world

TESTS = Path(__file__).resolve().parent
TIMEOUT = 300  # seconds: a rank that hangs fails the test instead of the suite
COMMON = ["--batch-size", "4", "--checkpoint-every", "2", "--precision", "fp32", "--device", "cpu"]
FILES = ["conv5/tally.csv", "conv5/units.csv", "dissect.json"]

pytestmark = pytest.mark.slow


def unitscope(*argv: str, procs: int = 1) -> subprocess.CompletedProcess:
    """`unitscope ARGV` in a fresh process, or under torchrun with `procs` processes."""
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"]
    path = f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    return subprocess.run([*launcher, "-m", "unitscope.cli", "--quiet", *argv], capture_output=True,
                          text=True, env=env, timeout=TIMEOUT, check=False)


def same_files(a: Path, b: Path) -> None:
    for name in FILES:
        assert (a / "dissect" / name).read_bytes() == (b / "dissect" / name).read_bytes(), name


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return concept_world(tmp_path_factory.mktemp("world"), seed=2, n=37, size=64)


@pytest.fixture(scope="module")
def alone(world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alone")
    done = unitscope("dissect", "toy", str(world), "conv5", "--negative", "--baseline", "random",
                     "--rotation", "1", *COMMON, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_two_processes_write_the_files_of_one(world, alone, tmp_path):
    done = unitscope("dissect", "toy", str(world), "conv5", "--negative", "--baseline", "random",
                     "--rotation", "1", *COMMON, "--out", str(tmp_path), procs=2)
    assert done.returncode == 0, done.stderr
    same_files(alone, tmp_path)
    assert done.stdout.count("dissect: wrote") == 1  # rank 0 reports, once
    assert not (tmp_path / "dissect" / ".work").exists()


def test_a_planted_model_too(world, tmp_path):
    args = ["dissect", "helpers.nets:planted_detectors", str(world), "features", *COMMON]
    one = unitscope(*args, "--out", str(tmp_path / "one"))
    two = unitscope(*args, "--out", str(tmp_path / "two"), procs=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    for name in ("features/tally.csv", "features/units.csv", "dissect.json"):
        one_file, two_file = (tmp_path / run / "dissect" / name for run in ("one", "two"))
        assert one_file.read_bytes() == two_file.read_bytes(), name


def test_a_failing_rank_stops_both_with_one_line_then_one_process_resumes(world, tmp_path):
    """A bad image in the last chunk: both ranks stop with the same line; the chunks done stay,
    and a resume with one process, once the image is fixed, writes the files of one clean run."""
    broken = tmp_path / "world"
    subprocess.run(["cp", "-r", str(world), str(broken)], check=True)
    last = sorted((broken / "images").rglob("*.jpg"))[-1]
    good = last.read_bytes()
    last.write_bytes(b"not an image")
    out = tmp_path / "run"
    args = ["dissect", "toy", str(broken), "conv5", "--negative", "--baseline", "random", "--rotation", "1",
            *COMMON, "--out", str(out)]
    failed = unitscope(*args, procs=2)
    assert failed.returncode != 0
    lines = [line for line in failed.stderr.splitlines() if line.startswith("unitscope: error:")]
    assert len(lines) == 2 and lines[0] == lines[1] and "cannot read image" in lines[0], failed.stderr
    assert len(list((out / "dissect/.work/chunks").iterdir())) >= 3
    last.write_bytes(good)
    resumed = unitscope(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    clean = unitscope(*args[:-1], str(tmp_path / "clean"))  # the same data path, never interrupted
    assert clean.returncode == 0, clean.stderr
    same_files(tmp_path / "clean", out)


def test_shards_and_merge_write_the_files_of_one(world, alone, tmp_path, capsys):
    from helpers.cli import cli_error, run_cli

    args = ["dissect", "toy", str(world), "conv5", "--negative", "--baseline", "random", "--rotation", "1",
            *COMMON]
    for i in range(3):  # 5 chunks over 3 shards: 2, 2 and 1
        shard = ["--shard", f"{i}/3", "--out", str(tmp_path / f"s{i}")]
        code, out, err = run_cli(capsys, "--quiet", *args, *shard)
        assert code == 0 and f"dissect: shard {i}/3 done" in out, err
    shards = [str(tmp_path / f"s{i}") for i in range(3)]
    err = cli_error(capsys, ["merge", *shards[:2], "--out", str(tmp_path / "partial")])
    assert "chunks 2, 5, 8 of 10 are in none of the shards" in err
    assert not (tmp_path / "partial" / "dissect" / "dissect.json").exists()
    code, _, err = run_cli(capsys, "--quiet", "merge", *shards, "--out", str(tmp_path / "merged"))
    assert code == 0, err
    same_files(alone, tmp_path / "merged")


def test_merge_refuses_shards_of_different_runs(world, tmp_path, capsys):
    from helpers.cli import cli_error, run_cli

    for i, quantile in ((0, "0.005"), (1, "0.01")):
        shard = ["--quantile", quantile, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")]
        code, _, err = run_cli(capsys, "--quiet", "dissect", "toy", str(world), "conv5", *COMMON, *shard)
        assert code == 0, err
    shards = [str(tmp_path / "s0"), str(tmp_path / "s1")]
    err = cli_error(capsys, ["merge", *shards, "--out", str(tmp_path / "m")])
    assert "not from the same run" in err and "quantile: 0.005 then, 0.01 now" in err
    assert not (tmp_path / "m" / "dissect").exists()


def test_examples_with_two_processes_and_as_shards_write_the_json_of_one(world, tmp_path, capsys):
    from helpers.cli import run_cli

    args = ["examples", "toy", str(world), "conv5:0-9", "fc8", "--top-k", "3", "--batch-size", "2",
            "--precision", "fp32", "--device", "cpu"]
    one = unitscope(*args, "--out", str(tmp_path / "one"))
    two = unitscope(*args, "--out", str(tmp_path / "two"), procs=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    for i in range(2):
        shard = ["--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")]
        code, _, err = run_cli(capsys, "--quiet", *args, *shard)
        assert code == 0, err
    code, _, err = run_cli(capsys, "--quiet", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"),
                           "--out", str(tmp_path / "merged"))
    assert code == 0, err
    expected = (tmp_path / "one/examples/examples.json").read_bytes()
    for run in ("two", "merged"):
        assert (tmp_path / run / "examples/examples.json").read_bytes() == expected, run
        assert (tmp_path / run / "examples/fc8/0/top_0.png").read_bytes() == \
            (tmp_path / "one/examples/fc8/0/top_0.png").read_bytes()


def test_graph_with_two_processes_writes_the_json_of_one(world, tmp_path):
    """Per-chunk sums added in chunk order: the floats do not depend on the number of processes."""
    args = ["graph", "toy", str(world), "--layers", "conv4,conv5,fc8", "--images", "20", "--batch-size", "1",
            "--device", "cpu"]
    one = unitscope(*args, "--out", str(tmp_path / "one"))
    two = unitscope(*args, "--out", str(tmp_path / "two"), procs=2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    one_json, two_json = (tmp_path / run / "graph/graph.json" for run in ("one", "two"))
    assert one_json.read_bytes() == two_json.read_bytes()
