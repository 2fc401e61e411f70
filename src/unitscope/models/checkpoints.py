"""Reading a weights file safely (tensors only, never code) and fitting it to a module, with
one-line errors for every way that goes wrong."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError

SHOWN_KEYS = 3  # parameter names an error lists before "and N more"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict safely (weights_only); unwrap {'state_dict': ...} / {'model': ...}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist; give the path to a .pt state_dict")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise _unreadable(path, exc) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint '{path}' holds no state_dict (found {type(state).__name__})")
    return state


def _unreadable(path: Path, exc: Exception) -> CheckpointError:
    """Torch's own advice for a file holding pickled objects is to load it with weights_only=False,
    which runs its code: never say that; say what the file is and how to make a plain one."""
    text = str(exc)
    if "Unsupported global" in text:
        return CheckpointError(
            f"checkpoint '{path}' holds pickled Python objects (code), not only tensors, so it was not "
            "loaded; if you trust its source, save its plain state_dict once: "
            f"torch.save(torch.load('{path}', weights_only=False).state_dict(), 'plain.pt')")
    return CheckpointError(f"cannot read checkpoint '{path}': {_reason(text, exc)}; is it a torch .pt file?")


def _reason(text: str, exc: Exception) -> str:
    """The part of torch's message that says what is wrong with the file (never its advice)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "Weights only load failed" in text:  # the detail follows torch's advice paragraph
        detail = next((line for line in lines if line.startswith("Unsupported")), "not a tensor file")
        return detail[:200]
    return (lines[0] if lines else type(exc).__name__)[:200]


def load_state(module: nn.Module, path: str | Path) -> None:
    """Load a checkpoint into `module`, explaining a mismatch in one line."""
    state = {k.removeprefix("module."): v for k, v in read_state_dict(path).items()}
    mine = module.state_dict()
    missing = [k for k in mine if k not in state]
    unexpected = [k for k in state if k not in mine]
    resized = [k for k in mine if k in state and tuple(state[k].shape) != tuple(mine[k].shape)]
    if missing or unexpected or resized:
        raise CheckpointError(
            f"checkpoint '{path}' does not fit {type(module).__name__}: "
            + "; ".join(part for part in (_listed("missing", missing), _listed("unexpected", unexpected),
                                          _listed("of another shape", resized)) if part)
            + " (is it for another architecture? name it with --arch)")
    module.load_state_dict(state)


def _listed(what: str, keys: list[str]) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return f"{len(keys)} {what} ({', '.join(keys[:SHOWN_KEYS])}{more})"
