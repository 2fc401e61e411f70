import pytest

from unitscope.cli import build_parser, main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


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
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_help_for_every_verb(capsys):
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert "layers" in verbs and "demo" in verbs
    for verb in verbs:
        with pytest.raises(SystemExit) as exc:
            main([verb, "--help"])
        assert exc.value.code == 0
    capsys.readouterr()
