"""The command line (cli/): `unitscope layers`, one-line user errors, --help for every verb."""

import pytest

from helpers.cli import cli_error, run_cli
from unitscope.cli import build_parser, main


def test_layers_lists_shapes(capsys):
    code, out, _ = run_cli(capsys, "layers", "toy")
    assert code == 0
    assert "conv5" in out and "fc8" in out
    line = next(row for row in out.splitlines() if row.startswith("conv1 "))
    assert "48x32x32" in line


def test_layers_marks_shared_modules(capsys):
    code, out, _ = run_cli(capsys, "layers", "resnet18", "--weights", "none", "--size", "64")
    assert code == 0 and "(called 2x)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["layers", "resnet81"], "unknown model 'resnet81'; closest: resnet18"),
        (["layers", "resnet18", "--weights", "/nonexistent.pt"], "does not exist"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, argv, message):
    assert message in cli_error(capsys, argv)


def test_help_for_every_verb(capsys):
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert "layers" in verbs and "demo" in verbs
    for verb in verbs:
        with pytest.raises(SystemExit) as exc:
            main([verb, "--help"])
        assert exc.value.code == 0
    capsys.readouterr()
