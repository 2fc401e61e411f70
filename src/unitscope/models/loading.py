"""`load_model(spec)`: the built-in toy, torchvision/timm names, `hf:` folders, checkpoints,
`pkg.mod:factory`."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..devices import resolve_device
from ..errors import CheckpointError, UnknownModelError, closest
from ..modalities import infer_modality
from .checkpoints import load_state, read_state_dict
from .huggingface import PREFIX as HF_PREFIX
from .huggingface import load_hf
from .spec import InputSpec, Model
from .toy import TOY_MEAN, TOY_SIZE, TOY_STD, ToyNet
from .tracing import hookable_names
from .weights import check_available, seeded

TOY_WEIGHTS = "toy.pt"
# built-in models of other inputs: name -> (module, loader(weights) -> Model)
BUILTIN_NON_IMAGE = {"tabular-toy": ("unitscope.tables.toy", "load_tabular_toy"),
                     "text-toy": ("unitscope.sequences.toy", "load_text_toy")}


def load_model(
    spec: str | nn.Module,
    weights: str | Path | None = "DEFAULT",
    arch: str | None = None,
    device: str | torch.device | None = "auto",
    input_spec: InputSpec | None = None,
    seed: int = 0,
    allow_download: bool = False,
) -> Model:
    """Build a `Model` in eval mode from a spec.

    spec: "toy"; a torchvision name ("resnet18"; weights "DEFAULT", None or a state_dict path);
    "timm:NAME" (if timm is installed); "hf:PATH", a local Hugging Face transformers folder (if
    transformers is installed; layer names are transformers' own); a checkpoint path with `arch=`;
    "package.module:factory"; or an `nn.Module`.
    `device`: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda:N", "mps".
    Random weights (weights=None) are drawn from `seed`; published weights come from the local
    cache, and are downloaded only with `allow_download`.
    """
    if isinstance(spec, nn.Module):
        model = Model(spec, input_spec or InputSpec(), type(spec).__name__, hookable_names(spec),
                      modality=infer_modality(spec))
    elif isinstance(spec, str) and spec.endswith((".pt", ".pth", ".ckpt")) and arch:
        model = load_model(arch, weights=spec, device=device, input_spec=input_spec, seed=seed)
    else:
        with seeded(seed):
            model = _build(str(spec), weights, allow_download)
    if input_spec is not None:
        model.input_spec = input_spec
    model.module.eval().to(resolve_device(device))
    return model


def _build(spec: str, weights: str | Path | None, allow_download: bool) -> Model:
    if spec == "toy":
        return _load_toy(weights)
    if spec in BUILTIN_NON_IMAGE:
        module_name, function = BUILTIN_NON_IMAGE[spec]
        return getattr(importlib.import_module(module_name), function)(weights)
    if spec.startswith(HF_PREFIX):
        return load_hf(spec[len(HF_PREFIX):], weights)
    if ":" in spec and not spec.startswith("timm:"):
        return _load_factory(spec)
    if spec.startswith("timm:"):
        return _load_timm(spec[5:], weights, allow_download)
    return _load_torchvision(spec, weights, allow_download)


def _load_toy(weights: str | Path | None) -> Model:
    """Trained weights ship in the package; weights=None keeps the architecture, random values."""
    meta = _shipped_toy()
    if weights is None:
        meta = {"class_names": meta.get("class_names")}
    elif weights == "DEFAULT":
        if "state_dict" not in meta:
            warnings.warn("toy: no trained weights shipped yet; using random weights", stacklevel=3)
    else:
        meta = {"class_names": meta.get("class_names"), "state_dict": read_state_dict(weights)}
    classes = meta.get("class_names")
    module = ToyNet(num_classes=len(classes) if classes else 12)
    if "state_dict" in meta:
        try:
            module.load_state_dict(meta["state_dict"])
        except RuntimeError as exc:
            raise CheckpointError(f"toy weights do not fit ToyNet: {str(exc)[:200]}") from None
    spec = InputSpec(TOY_SIZE, TOY_MEAN, TOY_STD)
    return Model(module, spec, "toy", hookable_names(module), list(classes) if classes else None)


def _shipped_toy() -> dict[str, Any]:
    """The weights file in the package: {'state_dict', 'class_names', 'meta'}, or {} if absent."""
    ref = resources.files("unitscope.models") / "weights" / TOY_WEIGHTS
    if not ref.is_file():
        return {}
    with resources.as_file(ref) as path:
        return torch.load(path, map_location="cpu", weights_only=True)


def _load_factory(spec: str) -> Model:
    mod_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownModelError(f"cannot import '{spec}': {exc}; write 'package.module:factory'") from None
    if not callable(factory):
        raise UnknownModelError(f"'{spec}' is a {type(factory).__name__}, not a function that builds a "
                                "model; write 'package.module:factory' naming a callable")
    module = factory()
    if isinstance(module, Model):
        return module
    if not isinstance(module, nn.Module):
        raise UnknownModelError(f"'{spec}' returned {type(module).__name__}, not an nn.Module")
    spec_attr = getattr(module, "input_spec", None)
    input_spec = spec_attr if isinstance(spec_attr, InputSpec) else InputSpec()
    return Model(module, input_spec, spec, hookable_names(module), modality=infer_modality(module))


def _load_torchvision(name: str, weights: str | Path | None, allow_download: bool) -> Model:
    import torchvision.models as tvm

    names = tvm.list_models(module=tvm)
    if name not in names:
        near = ", ".join(closest(name, names + ["toy", *BUILTIN_NON_IMAGE]))
        raise UnknownModelError(f"unknown model '{name}'; closest: {near} "
                                "(or 'toy', 'timm:NAME', 'hf:PATH', 'pkg.module:factory')")
    enum = tvm.get_model_weights(name)
    default = enum.DEFAULT
    if weights == "DEFAULT" or (isinstance(weights, str) and weights in enum.__members__):
        chosen = default if weights == "DEFAULT" else enum[weights]
        check_available(name, chosen, allow_download)
        module = tvm.get_model(name, weights=chosen)
        meta_weights = chosen
    else:
        module = tvm.get_model(name, weights=None, **_aux_logits_off(name))
        if weights is not None:
            load_state(module, weights)
        meta_weights = default
    input_spec = _spec_from_weights(meta_weights)
    classes = list(meta_weights.meta.get("categories") or []) or None
    return Model(module, input_spec, name, hookable_names(module), classes)


def _aux_logits_off(name: str) -> dict[str, Any]:
    """Random-weight googlenet/inception build auxiliary heads by default; we want plain eval nets."""
    return {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}


def _spec_from_weights(weights: Any) -> InputSpec:
    """Read crop size, mean and std from torchvision's own transforms metadata (no download)."""
    transform = weights.transforms()
    size = getattr(transform, "crop_size", [224])
    size = size[0] if isinstance(size, (list, tuple)) else int(size)
    mean = tuple(float(v) for v in getattr(transform, "mean", InputSpec.mean))
    std = tuple(float(v) for v in getattr(transform, "std", InputSpec.std))
    return InputSpec(int(size), mean, std)


def _load_timm(name: str, weights: str | Path | None, allow_download: bool) -> Model:
    try:
        import timm
    except ImportError:
        raise UnknownModelError("timm is not installed; `pip install timm` to use 'timm:NAME'") from None
    if name not in timm.list_models():
        near = ", ".join(closest(name, timm.list_models()))
        raise UnknownModelError(f"unknown timm model '{name}'; closest: {near}")
    module = _timm_module(timm, name, weights == "DEFAULT", allow_download)
    if weights not in (None, "DEFAULT"):
        load_state(module, weights)
    cfg = timm.data.resolve_data_config({}, model=module)
    spec = InputSpec(int(cfg["input_size"][-1]), tuple(cfg["mean"]), tuple(cfg["std"]))
    return Model(module, spec, f"timm:{name}", hookable_names(module))


def _timm_module(timm: Any, name: str, pretrained: bool, allow_download: bool):
    """timm's model; its published weights from the Hugging Face cache only, unless downloads are
    allowed (the hub in offline mode reads its cache and fails at once instead of fetching)."""
    if not pretrained or allow_download:
        return timm.create_model(name, pretrained=pretrained)
    try:
        with _hub_offline():
            return timm.create_model(name, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - the hub raises many types when the file is not cached
        raise CheckpointError(
            f"timm:{name}: its weights are not in the local Hugging Face cache ({type(exc).__name__}); "
            "give --weights PATH, --weights none or --allow-download") from None


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """HF_HUB_OFFLINE for the duration: the hub reads the variable once, at import, so its
    constant is set too (else it retries the network five times before failing)."""
    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    saved_constant = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE = saved_constant
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved
