"""Record activations of named modules for one forward pass, and stop after the deepest one.

Later layers never run, so probing `layer2` of a ResNet costs the forward up to `layer2`.
Recorded tensors stay in the autograd graph (for visualize and compose), are safe from in-place
ops that follow them, and modules called several times are recorded per call.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .errors import unknown_layer


class _StopForward(Exception):
    """Raised inside a hook to end the forward pass once every requested module has run."""


_CALL_COUNTS: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def module_lookup(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """Map layer names to modules; unknown names raise an error listing the closest ones."""
    modules = dict(model.named_modules())
    found = {}
    for name in names:
        if name not in modules or name == "":
            raise unknown_layer(name, [n for n in modules if n])
        found[name] = modules[name]
    return found


def call_counts(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, int]:
    """How many times each named module runs in one forward (cached per model and input shape).

    Found with one forward on the meta device (shapes only, no arithmetic, no real layer runs),
    so early stop knows when the last call of a shared module (ResNet's `relu`) has happened.
    Falls back to a no-grad forward of one real example for models that cannot run on meta.
    """
    cache = _CALL_COUNTS.setdefault(model, {})
    key = (tuple(x.shape[1:]), tuple(sorted(names)))
    if key not in cache:
        counts = dict.fromkeys(names, 0)
        handles = []
        for name, module in module_lookup(model, names).items():
            def hook(_m, _i, _o, name=name):
                counts[name] += 1
            handles.append(module.register_forward_hook(hook))
        try:
            if not _count_on_meta(model, x):
                counts.update(dict.fromkeys(names, 0))
                with torch.no_grad():
                    model(x[:1])
        finally:
            for h in handles:
                h.remove()
        cache[key] = counts
    return dict(cache[key])


def _count_on_meta(model: nn.Module, x: torch.Tensor) -> bool:
    """Run the model with meta parameters and input; False if some op does not support meta."""
    meta = {
        name: torch.empty_like(t, device="meta")
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    }
    try:
        with torch.no_grad():
            torch.func.functional_call(model, meta, (x[:1].to("meta"),))
    except Exception:  # noqa: BLE001 - any failure means "count on real data instead"
        return False
    return True


def first_tensor(output: object) -> torch.Tensor | None:
    """A module's output tensor: itself, or the first item of a tuple (attention layers and
    Hugging Face blocks return `(hidden_states, ...)`)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _shares_memory(recorded: torch.Tensor, output: torch.Tensor) -> bool:
    """True when the record is the output or a view of it (a token layer's patch map)."""
    return recorded is output or recorded.untyped_storage().data_ptr() == output.untyped_storage().data_ptr()


class Probe:
    """Context manager recording the outputs of `layers` when the model is called through it.

    >>> with Probe(model, ["layer2"]) as probe:
    ...     acts = probe(x)          # forward stops after layer2
    >>> acts["layer2"].shape
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str],
        stop_early: bool = True,
        transform: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
        rebuild: Callable[[str, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model = model
        self.layers = list(dict.fromkeys(layers))
        self.stop_early = stop_early
        self.transform = transform  # what is recorded: (name, output) -> record
        self.rebuild = rebuild  # what runs on: (name, record, output) -> a new output made from the record
        self.modules = module_lookup(model, self.layers)
        self.calls: dict[str, list[torch.Tensor]] = {}
        self.prefix_tokens: dict[str, torch.Tensor] = {}  # a token layer's class tokens [B, C, P]
        self.batch: int | None = None  # images in the current call
        self._expected: dict[str, int] = {}
        self._expected_shape: tuple | None = None
        self._handles: list = []
        self.output: torch.Tensor | None = None
        self.stopped_early = False

    def __enter__(self) -> Probe:
        for name, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._make_hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _make_hook(self, name: str):
        def hook(_module, _inputs, output):
            tensor = first_tensor(output)
            if tensor is None:
                raise TypeError(f"layer '{name}' returns {type(output).__name__}, not a tensor")
            recorded = self.transform(name, tensor) if self.transform else tensor
            self.calls.setdefault(name, []).append(recorded)
            if self.stop_early and self._all_done():
                raise _StopForward
            if recorded is not tensor and self.rebuild is not None:
                copy = self.rebuild(name, recorded, tensor)  # later layers then read the record
            elif _shares_memory(recorded, tensor):
                # Later in-place ops (ReLU(inplace=True)) act on this copy, not on the record.
                copy = tensor.clone()
            else:
                return None
            if output is tensor:
                return copy
            return (tuple if isinstance(output, tuple) else list)((copy, *output[1:]))

        return hook

    def _all_done(self) -> bool:
        return all(len(self.calls.get(n, ())) >= self._expected[n] for n in self.layers)

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run the model on `x` and return {layer: activation of its last call}."""
        if not self._handles:
            raise RuntimeError("use Probe as a context manager: `with Probe(model, layers) as p:`")
        self.calls = {}
        self.prefix_tokens = {}
        self.batch = x.shape[0]
        self.output = None
        self.stopped_early = False
        if self.stop_early and self._expected_shape != tuple(x.shape[1:]):
            self._expected = self._counts(x)
            self._expected_shape = tuple(x.shape[1:])
        try:
            self.output = self.model(x)
        except _StopForward:
            self.stopped_early = True
        return self.activations

    def _counts(self, x: torch.Tensor) -> dict[str, int]:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        try:
            counts = call_counts(self.model, x, self.layers)
        finally:
            self.__enter__()
        for name, count in counts.items():
            if count > 1:
                warnings.warn(
                    f"module '{name}' runs {count} times per forward; using its last call "
                    f"(Probe.calls['{name}'] has all of them)",
                    stacklevel=3,
                )
        return counts

    @property
    def activations(self) -> dict[str, torch.Tensor]:
        """The last recorded call of every requested layer."""
        return {name: calls[-1] for name, calls in self.calls.items()}

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.calls[name][-1]


def record(
    model: nn.Module, x: torch.Tensor, layers: Sequence[str], stop_early: bool = True
) -> dict[str, torch.Tensor]:
    """One-shot helper: the activations of `layers` on `x`."""
    with Probe(model, layers, stop_early=stop_early) as probe:
        return probe(x)
