"""Datasets: the Broden-format reader and the synthetic concept world that writes that format."""

from .broden import BrodenBatch, BrodenDataset, BrodenItem, collate
from .concepts import CATEGORIES, OBJECT_CLASSES, Sample, render_sample
from .concepts.generate import generate

__all__ = [
    "BrodenBatch",
    "BrodenDataset",
    "BrodenItem",
    "CATEGORIES",
    "OBJECT_CLASSES",
    "Sample",
    "collate",
    "generate",
    "render_sample",
]
