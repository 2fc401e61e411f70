"""Text models: the code world's labels, a planted bracket counter named `bracket_depth` with its
top examples deep in brackets, relaxed one-hot visualization, text-toy's Karpathy units."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.cli import cli_error, run_cli
from unitscope import run
from unitscope.dissect import DissectSettings
from unitscope.examples import ExamplesSettings
from unitscope.models import load_model
from unitscope.optvis.visualize import VisualizeSettings
from unitscope.sequences.codeworld import scan
from unitscope.sequences.corpus import read_corpus, write_code_world
from unitscope.sequences.windows import WINDOW, spans

PLANTED = "helpers.nets:bracket_counter"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_code_world(tmp_path_factory.mktemp("codeworld") / "world", chars=40_000, seed=3)


@pytest.fixture(scope="module")
def counter():
    return load_model(PLANTED, device="cpu")


def test_the_lexer_labels_strings_comments_brackets_and_numbers():
    text = 'f("(", [12]) # a (\nx1 = 3.5\n{ y }\n'
    labels = scan(text)
    assert labels["bracket_depth"].tolist()[:12] == [0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 0]  # "(" in a string
    block = text.index("{")
    assert labels["block_depth"][block - 1:block + 6].tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert labels["bracket_depth"][block] == 0 and labels["block_depth"][:block].max() == 0
    assert labels["inside_string"].tolist()[:6] == [0, 0, 1, 1, 1, 0]
    assert labels["inside_comment"][13:18].tolist() == [1, 1, 1, 1, 1] and labels["bracket_depth"][17] == 0
    assert labels["inside_number"][8:10].tolist() == [1, 1]
    second = text.index("x1")
    assert labels["inside_number"][second + 1] == 0  # the 1 of an identifier
    assert labels["inside_number"][second + 5:second + 8].tolist() == [1, 1, 1]  # 3.5
    assert labels["after_newline"][second] == 1 and labels["position_in_line"][second + 3] == 3


def test_windows_record_every_character_once(world):
    text = read_corpus(world).text
    covered = np.zeros(len(text), int)
    for span in spans(text):
        assert span.end - span.start <= WINDOW
        covered[span.keep:span.end] += 1
    assert (covered == 1).all()
    long = "x" * 1500
    pieces = [(s.start, s.keep, s.end) for s in spans(long)]  # 128 characters of warm-up each
    assert pieces == [(0, 0, 512), (384, 512, 896), (768, 896, 1280), (1152, 1280, 1500)]


def test_a_corpus_reads_back_and_wrong_labels_are_refused(world, tmp_path):
    corpus = read_corpus(world)
    assert set(corpus.concepts) >= {"bracket_depth", "inside_string"}
    assert corpus.kinds["inside_string"] == "binary"
    assert all(len(v) == len(corpus.text) for v in corpus.concepts.values())
    np.savez(tmp_path / "concepts.npz", bracket_depth=np.zeros(3))
    (tmp_path / "text.txt").write_text("abcdef")
    (tmp_path / "concepts.json").write_text(json.dumps({"concepts": {"bracket_depth": {"kind": "numeric"}}}))
    with pytest.raises(Exception, match="3 values for 6 characters"):
        read_corpus(tmp_path)


def test_the_planted_counter_is_named_bracket_depth(counter, world, tmp_path):
    assert counter.modality == "text"
    result = run(counter, str(world), DissectSettings(layers=("counter",)), tmp_path)
    unit = result["layers"]["counter"]["units"][0]
    # it also counts the brackets inside strings and comments, which the lexer's depth skips
    assert unit["label"] == "bracket_depth" and unit["r"] > 0.6 and unit["named"]
    assert all(abs(c["r"]) < unit["r"] for c in unit["concepts"][1:])
    assert result.to_pandas().loc[0, "label"] == "bracket_depth"


def test_the_planted_counters_top_examples_are_deep_in_brackets(counter, world, tmp_path):
    depth = read_corpus(world).concepts["bracket_depth"]
    result = run(counter, str(world), ExamplesSettings(units=("counter:0",), top_k=5), tmp_path)
    top = result["units"][0]["top"]
    # the counter also counts the brackets in strings, so its top windows are deep, not all deepest
    assert np.mean([e["concepts"]["bracket_depth"] for e in top]) >= 2 * depth.mean()
    assert all(e["text"][e["offset"]] in "([" or e["concepts"]["bracket_depth"] > 0 for e in top)
    bottom = result["units"][0]["bottom"]
    assert max(e["activation"] for e in bottom) <= min(e["activation"] for e in top)
    assert len({e["position"] for e in top}) == 5


def test_visualize_finds_a_string_of_open_brackets(counter, tmp_path):
    settings = VisualizeSettings(units=("counter:0",), steps=60, lr=0.5, length=12, negative=True)
    result = run(counter, None, settings, tmp_path)
    best, worst = result["units"]
    assert all(char in "([" for char in best["text"]) and best["activation"] == 12
    assert all(char in ")]" for char in worst["text"]) and worst["activation"] == -12
    assert (tmp_path / "visualize" / "strings.csv").is_file()


def test_cli_verbs_and_the_explorer_escape_text(capsys, tmp_path):
    text = tmp_path / "page.txt"
    text.write_text('x = f("<script>alert(1)</script>")\n' * 20, encoding="utf-8")
    out = str(tmp_path / "run")
    code, _, _ = run_cli(capsys, "examples", PLANTED, str(text), "counter", "--top-k", "2", "--out", out)
    assert code == 0
    code, _, _ = run_cli(capsys, "visualize", PLANTED, "counter:0", "--steps", "5", "--out", out)
    assert code == 0
    code, _, _ = run_cli(capsys, "explore", out)
    assert code == 0
    page = (tmp_path / "run" / "site" / "units" / "counter" / "0.html").read_text()
    assert "<script>alert" not in page and "&lt;" in page
    assert "rgba(" in page and "Optimal string" in page


@pytest.mark.parametrize("content, expected", [(b"\xff\xfe(", "not UTF-8"), (b"   \n", "is empty")])
def test_bad_text_is_one_line(capsys, tmp_path, content, expected):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    err = cli_error(capsys, ["examples", "text-toy", str(path), "lstm", "--out", str(tmp_path / "o")])
    assert expected in err


def test_dissect_needs_labels(capsys, tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("f(x)\n")
    err = cli_error(capsys, ["dissect", "text-toy", str(path), "lstm", "--out", str(tmp_path / "o")])
    assert "no per-character concepts" in err


def test_text_toy_names_more_units_than_random_weights(world, tmp_path):
    """Training names more units than random weights have, and one memory cell tracks bracket depth
    with |r| >= 0.8, far better than any random one (Karpathy et al. 2015; 0.95 vs 0.46 on a
    100k-character world)."""
    settings = DissectSettings(layers=("lstm", "cells"))
    trained = run(load_model("text-toy", device="cpu"), str(world), settings, tmp_path / "trained")
    random = run(load_model("text-toy", weights=None, device="cpu", seed=0), str(world), settings,
                 tmp_path / "random")
    for layer in ("lstm", "cells"):
        assert trained["layers"][layer]["named"] > random["layers"][layer]["named"]

    def best_depth(result):
        return max(abs(c["r"]) for u in result["layers"]["cells"]["units"] for c in u["concepts"]
                   if c["concept"] == "bracket_depth")

    assert best_depth(trained) >= 0.8 and best_depth(trained) > 1.6 * best_depth(random)


def test_cells_are_the_lstms_memory(world):
    """The `cells` layer recomputes c_t step by step: its last step equals nn.LSTM's c_n."""
    import torch

    model = load_model("text-toy", device="cpu").module
    ids = torch.randint(1, 97, (3, 40), generator=torch.Generator().manual_seed(0))
    embedded = model.embed(ids)
    _, (_, last_cell) = model.lstm(embedded)
    assert torch.allclose(model.cells(embedded, model.lstm)[:, -1], last_cell[0], atol=1e-5)
