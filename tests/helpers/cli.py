"""Running `unitscope` in-process and checking what a user sees: exit codes and one-line errors."""

from __future__ import annotations

import pytest

from unitscope.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `unitscope ARGV`."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def cli_error(capsys, argv: list[str]) -> str:
    """Run `unitscope ARGV`, assert it refused: exit 2, stderr exactly one 'unitscope: error:' line
    and no traceback; return stderr as printed (with its newline)."""
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, (code, err)
    assert err.startswith("unitscope: error:") and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    return err


def one_line(err: str) -> bool:
    """Exactly one error line and no traceback (warnings, e.g. about toy weights, may precede)."""
    return "Traceback" not in err and len([ln for ln in err.splitlines()
                                            if ln.startswith("unitscope:")]) == 1


def help_text(capsys, verb: str) -> str:
    """`unitscope VERB --help` (exits 0), its whitespace collapsed to single spaces."""
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())
