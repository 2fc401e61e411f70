"""What every text verb needs first: the model's vocabulary and every position's activations."""

from __future__ import annotations

import numpy as np

from ..errors import BadInputError
from ..models import Model
from ..units import Unit
from .corpus import Corpus
from .vocabulary import Vocabulary
from .windows import record_positions


def vocabulary_of(model: Model) -> Vocabulary:
    """The model's Vocabulary, or a `vocabulary` string attribute of its module."""
    if isinstance(model.data_spec, Vocabulary):
        return model.data_spec
    alphabet = getattr(model.module, "vocabulary", None)
    if isinstance(alphabet, str) and alphabet:
        return Vocabulary(alphabet)
    raise BadInputError(f"{model.name} reads character ids but has no vocabulary; give its module a "
                        "`vocabulary` string (character i is id i + 1, id 0 unknown)")


def unit_activations(model: Model, corpus: Corpus, units: list[Unit], batch_size: int) -> np.ndarray:
    """[characters, units]: each unit's activation at each character of the corpus."""
    layers = list(dict.fromkeys(u.layer for u in units))
    acts = record_positions(model, corpus.text, vocabulary_of(model), layers, batch_size)
    return np.stack([acts[u.layer][:, u.index] for u in units], 1)
