"""`hf:PATH`: a local Hugging Face transformers image model, as `save_pretrained` writes it.

The folder holds `config.json`, the weights (`model.safetensors`) and, optionally, the image
processor's `preprocessor_config.json`. Nothing is downloaded: every read is `local_files_only`.

Layer names are Hugging Face's own: the loaded module *is* the transformers model (its class
swapped for a subclass whose `forward(pixel_values)` returns a plain tensor instead of a
`ModelOutput`), so `model.named_modules()` prints what transformers prints (`vit.layers.1.mlp`,
`classifier`), and its `state_dict()` keys are the checkpoint's. A wrapper module would have put
a prefix (`hf.`) before every name that users copy from Hugging Face code and docs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, UnknownModelError
from .checkpoints import load_state
from .spec import InputSpec, Model
from .tracing import hookable_names

PREFIX = "hf:"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
HF_VIT_MEAN = (0.5, 0.5, 0.5)  # ViTImageProcessor's default (IMAGENET_STANDARD_MEAN / _STD)
HF_VIT_STD = (0.5, 0.5, 0.5)
_GENERIC_LABEL = re.compile(r"LABEL_\d+")


def load_hf(path: str | Path, weights: str | Path | None = "DEFAULT") -> Model:
    """The model in the local folder `path`: its classification head when it has one (else the
    bare model, which returns `pooler_output`, or `last_hidden_state` without a pooler).

    weights: "DEFAULT" reads the folder's own weights; None builds the architecture from
    `config.json` with random weights (drawn from torch's RNG: the caller seeds it); a path loads
    a state_dict saved from the model (Hugging Face key names) into that architecture.
    """
    transformers = _transformers()
    folder = _check_folder(path)
    config = _config(transformers, folder)
    auto = transformers.AutoModelForImageClassification if _is_classifier(config) else transformers.AutoModel
    if weights == "DEFAULT":
        module = _pretrained(auto, folder)
    else:
        module = _from_config(auto, config, folder)
        if weights is not None:
            load_state(module, weights)
    module = tensor_output(module)
    classes = class_names(config) if auto is transformers.AutoModelForImageClassification else None
    spec = input_spec(folder, config)
    return Model(module, spec, f"{PREFIX}{path}", hookable_names(module), classes)


def tensor_output(module: nn.Module) -> nn.Module:
    """`module` (a transformers model) made to return one tensor, in place: its class becomes a
    subclass of its own (same name) whose forward returns `.logits`, else `.pooler_output`, else
    `.last_hidden_state`. Same object, so names, hooks, `state_dict` and devices are untouched."""
    if not isinstance(module, _TensorOutput):
        module.__class__ = _tensor_class(type(module))
    return module


class _TensorOutput:
    """Put before a transformers model class: every verb calls `module(images)` and reads a tensor."""

    def forward(self, pixel_values: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        kwargs.setdefault("return_dict", True)  # a config with return_dict=False would give tuples
        return main_tensor(super().forward(pixel_values, *args, **kwargs))


@functools.cache
def _tensor_class(cls: type) -> type:
    """One subclass per transformers class (cached: loading twice gives the same type). It keeps
    the class's name, so `save_pretrained` still writes the original architecture."""
    attrs = {"__module__": __name__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    return type(cls.__name__, (_TensorOutput, cls), attrs)


def main_tensor(output: Any) -> torch.Tensor:
    """The tensor a transformers forward stands for: logits, a base model's pooled vector or its
    last hidden state (a tuple output's first item, a tensor itself)."""
    if isinstance(output, torch.Tensor):
        return output
    for key in ("logits", "pooler_output", "last_hidden_state"):
        value = output.get(key) if hasattr(output, "get") else None
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"cannot find logits or hidden states in a {type(output).__name__}")


def input_spec(folder: Path, config: Any) -> InputSpec:
    """Size, mean and std from the saved image processor; without one, the config's image size
    and the default processor of the model type (0.5 / 0.5, as HF ViT, when that is unknown)."""
    if (folder / "preprocessor_config.json").is_file():
        processor = _processor(folder)
        return _spec_from_processor(processor, _config_size(config))
    warnings.warn(f"{PREFIX}{folder}: no preprocessor_config.json; using the default normalization of "
                  f"model type '{getattr(config, 'model_type', '?')}' (save the image processor with "
                  "save_pretrained into the folder to use its own)", stacklevel=2)
    processor = _default_processor(config)
    if processor is None:
        return InputSpec(_config_size(config) or 224, HF_VIT_MEAN, HF_VIT_STD)
    return _spec_from_processor(processor, _config_size(config), prefer_config=True)


def class_names(config: Any) -> list[str] | None:
    """`config.id2label` in index order, unless its names are transformers' LABEL_i placeholders."""
    id2label = getattr(config, "id2label", None) or {}
    labels = {int(k): str(v) for k, v in id2label.items()}
    if not labels or sorted(labels) != list(range(len(labels))):
        return None
    names = [labels[i] for i in range(len(labels))]
    return None if all(_GENERIC_LABEL.fullmatch(n) for n in names) else names


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise UnknownModelError("transformers is not installed; `pip install transformers` to use "
                                "'hf:PATH'") from None
    return transformers


def _check_folder(path: str | Path) -> Path:
    """The folder, or one line saying what `hf:` expects (a local folder, never a hub name)."""
    folder = Path(path).expanduser()
    expected = "a local folder written by model.save_pretrained(PATH) (config.json and model.safetensors)"
    if not folder.is_dir():
        raise UnknownModelError(f"{PREFIX}{path}: no such folder; expected {expected}")
    if not (folder / "config.json").is_file():
        raise UnknownModelError(f"{PREFIX}{path}: no config.json in this folder; expected {expected}")
    return folder


def _config(transformers: Any, folder: Path) -> Any:
    try:
        return transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:  # bad JSON, unknown model_type, remote code
        raise UnknownModelError(f"{PREFIX}{folder}: transformers cannot read its config.json: "
                                f"{_first_line(exc)}") from None


def _is_classifier(config: Any) -> bool:
    """Whether the folder holds an image classifier: its recorded architecture says so (without
    one, whether transformers has a classifier for the model type). Loading a bare model with
    AutoModelForImageClassification would add a random head silently, so the config decides."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES as heads

    known = heads.get(getattr(config, "model_type", None))
    known = {known} if isinstance(known, str) else set(known or ())
    architectures = getattr(config, "architectures", None) or []
    if architectures:
        return any(a in known or "ForImageClassification" in a for a in architectures)
    return bool(known)


def _pretrained(auto: Any, folder: Path) -> nn.Module:
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise CheckpointError(f"{PREFIX}{folder}: no weights file ({', '.join(WEIGHT_FILES[::2])}) in the "
                              "folder; give --weights none (random, seeded by --seed) or --weights PATH")
    try:
        with _bar_on_tty():
            return auto.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as exc:  # unreadable or mismatched weights
        raise CheckpointError(f"{PREFIX}{folder}: transformers cannot load its weights: {_first_line(exc)}"
                              ) from None


@contextlib.contextmanager
def _bar_on_tty() -> Iterator[None]:
    """transformers' 'Loading weights' bar only on a terminal, as unitscope's own bars (global
    switch, restored after)."""
    from transformers.utils import logging

    quiet = logging.is_progress_bar_enabled() and not sys.stderr.isatty()
    if quiet:
        logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet:
            logging.enable_progress_bar()


def _from_config(auto: Any, config: Any, folder: Path) -> nn.Module:
    """The architecture with fresh weights: transformers' own init, from the caller's RNG state."""
    try:
        return auto.from_config(config, dtype=torch.float32)
    except (ValueError, KeyError) as exc:
        raise UnknownModelError(f"{PREFIX}{folder}: transformers cannot build this config: {_first_line(exc)}"
                                ) from None


def _processor(folder: Path) -> Any:
    """The saved image processor; its raw JSON (same keys) if transformers cannot build its class."""
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, ImportError, KeyError):
        try:
            return json.loads((folder / "preprocessor_config.json").read_text())
        except (OSError, ValueError) as exc:
            raise UnknownModelError(f"{PREFIX}{folder}: preprocessor_config.json is unreadable: "
                                    f"{_first_line(exc)}") from None


def _default_processor(config: Any) -> Any | None:
    """A default-constructed image processor of the model type, or None. Reads transformers'
    internal mapping (its shape changed between versions), so any failure means 'unknown'."""
    try:
        from transformers.models.auto import image_processing_auto as auto

        names = auto.IMAGE_PROCESSOR_MAPPING_NAMES.get(config.model_type)
        names = list(names.values()) if isinstance(names, dict) else [names] if isinstance(names, str) \
            else list(names or ())
        for name in names:
            cls = auto.get_image_processor_class_from_name(name) if name else None
            if cls is not None:
                return cls()
    except Exception:  # noqa: BLE001 - internal API, optional backends: fall back to HF ViT's
        return None
    return None


def _spec_from_processor(processor: Any, config_size: int | None, prefer_config: bool = False) -> InputSpec:
    """InputSpec from a processor object or its JSON dict: the crop size when it center-crops,
    else the resize size (height or shortest edge); mean and std rescaled for [0, 1] images."""
    def get(key: str, default: Any = None) -> Any:
        value = processor.get(key) if isinstance(processor, dict) else getattr(processor, key, None)
        return default if value is None else value

    size = _side(get("crop_size")) if get("do_center_crop", False) else None
    size = size or _side(get("size"))
    if prefer_config or size is None:
        size = config_size or size or 224
    mean, std = HF_VIT_MEAN, HF_VIT_STD
    if get("do_normalize", True):
        mean, std = _triple(get("image_mean", mean)), _triple(get("image_std", std))
    else:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    # The processor maps 0..255 pixels to x * rescale_factor, then normalizes; unitscope feeds
    # [0, 1] images, so (x * k - m) / s = (x - m / k) / (s / k) with k = 255 * rescale_factor.
    scale = 255.0 * float(get("rescale_factor", 1 / 255)) if get("do_rescale", True) else 255.0
    if abs(scale - 1.0) > 1e-6:
        mean, std = tuple(m / scale for m in mean), tuple(s / scale for s in std)
    return InputSpec(int(size), mean, std)


def _side(size: Any) -> int | None:
    """A square side from a processor size: an int, or a dict / SizeDict with height or shortest_edge."""
    if isinstance(size, int):
        return size
    for key in ("height", "shortest_edge"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if isinstance(value, int):
            return value
    return None


def _config_size(config: Any) -> int | None:
    size = getattr(config, "image_size", None)
    if isinstance(size, (list, tuple)) and size:
        size = size[0]
    return int(size) if isinstance(size, int) else None


def _triple(values: Any) -> tuple[float, float, float]:
    values = [float(values)] * 3 if isinstance(values, (int, float)) else [float(v) for v in values]
    return tuple((values * 3)[:3] if len(values) == 1 else values[:3])


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
