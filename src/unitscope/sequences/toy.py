"""`text-toy`: a character LSTM trained on the code world to predict the next character."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..models.checkpoints import read_state_dict
from ..models.spec import InputSpec, Model
from ..models.tracing import hookable_names
from .vocabulary import Vocabulary

WEIGHTS = "text_toy.pt"
EMBED, HIDDEN = 32, 128


class CellStates(nn.Module):
    """The LSTM's memory cells c_t at every position, [B, T, H] (nn.LSTM returns only the last):
    the gates recomputed step by step from the LSTM's own weights. Karpathy et al. read these
    cells; a counter lives in c, while the output h = o * tanh(c) saturates."""

    def forward(self, inputs: torch.Tensor, lstm: nn.LSTM) -> torch.Tensor:
        projected = inputs @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + lstm.bias_hh_l0
        h = c = inputs.new_zeros(inputs.shape[0], lstm.hidden_size)
        cells = []
        for t in range(inputs.shape[1]):
            i, f, g, o = (projected[:, t] + h @ lstm.weight_hh_l0.T).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            cells.append(c)
        return torch.stack(cells, 1)


class CharLSTM(nn.Module):
    """embed -> lstm (batch first) -> head: next-character logits at every position; `cells`
    reads the LSTM's memory cells as a layer of their own (no weights of its own)."""

    def __init__(self, vocabulary_size: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary_size, EMBED)
        self.lstm = nn.LSTM(EMBED, hidden, batch_first=True)
        self.cells = CellStates()
        self.head = nn.Linear(hidden, vocabulary_size)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The next-character logits alone (training: no step-by-step cell loop)."""
        hidden, _ = self.lstm(self.embed(ids))
        return self.head(hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        embedded = self.embed(ids)
        hidden, _ = self.lstm(embedded)
        self.cells(embedded, self.lstm)
        return self.head(hidden)


def load_text_toy(weights: str | Path | None) -> Model:
    """The trained LSTM ("DEFAULT"), random weights (None) or a state_dict file."""
    shipped = _shipped()
    vocabulary = Vocabulary(shipped["vocabulary"]) if shipped else Vocabulary()
    module = CharLSTM(vocabulary.size, shipped.get("meta", {}).get("hidden", HIDDEN))
    state = shipped.get("state_dict") if weights == "DEFAULT" else (
        None if weights is None else read_state_dict(weights))
    if state is not None:
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"weights do not fit text-toy: {str(exc)[:200]}") from None
    return Model(module, InputSpec(), "text-toy", hookable_names(module), modality="text",
                 data_spec=vocabulary)


def _shipped() -> dict[str, Any]:
    ref = resources.files("unitscope.models") / "weights" / WEIGHTS
    if not ref.is_file():
        return {}
    with resources.as_file(ref) as path:
        return torch.load(path, map_location="cpu", weights_only=True)
