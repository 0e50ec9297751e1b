"""What to keep from a module's output, and the transformer-block layer preset.

``Recorder(output=...)`` picks the tensor to record from a module output that is
a tuple, a list, a dict or a Hugging Face ``ModelOutput``: one selector for every
layer, or a mapping from layer-name glob to selector (first match wins). A
selector is

- an ``int``: ``output[i]`` of a tuple/list (a ``ModelOutput`` counts its
  non-None fields, as its own ``output[i]`` does);
- a ``str``: ``output[key]`` of a dict / ``ModelOutput``, or ``output.key``;
- a callable ``fn(output) -> Tensor``.

Layers without a selector keep the default: the output itself if it is a
tensor, else the first tensor found in it (tuple/list items in order, dict
values in order, searched depth first).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["first_tensor", "transformer_blocks"]


def first_tensor(output: Any) -> torch.Tensor | None:
    """The default selector: the output if it is a tensor, else the first tensor of a
    tuple/list or dict (``ModelOutput``), searched depth first; None if there is none."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, tuple | list):
        for item in output:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


class Selector:
    """One ``output=`` selector, applied to a module output (private)."""

    def __init__(self, sel: Any, name: str):
        if isinstance(sel, bool) or not (isinstance(sel, int | str) or callable(sel)):
            raise TypeError(
                f"{name}: expected an index (int), a key (str) or a callable "
                f"output -> Tensor, got {type(sel).__name__} {sel!r}"
            )
        self.sel = sel
        if isinstance(sel, int | str):
            self.text = repr(sel)
        else:
            module = getattr(sel, "__module__", "") or ""
            qual = getattr(sel, "__qualname__", type(sel).__qualname__)
            self.text = f"callable:{module}.{qual}" if module else f"callable:{qual}"

    def __call__(self, output: Any, layer: str) -> Any:
        sel = self.sel
        if callable(sel):
            return sel(output)
        try:
            if isinstance(sel, int):
                if isinstance(output, Mapping):  # ModelOutput: its non-None fields in order
                    output = tuple(v for v in output.values() if v is not None)
                return output[sel]
            if isinstance(output, Mapping):
                return output[sel]
            return getattr(output, sel)
        except (IndexError, KeyError, AttributeError, TypeError) as exc:
            keys = list(output.keys()) if isinstance(output, Mapping) else None
            what = f"keys {keys}" if keys is not None else (
                f"length {len(output)}" if isinstance(output, tuple | list) else
                f"type {type(output).__name__}"
            )
            raise ValueError(
                f"output: selector {sel!r} does not apply to the output of layer {layer!r} "
                f"({what}): {exc!r}"
            ) from None


class OutputPlan:
    """``output=`` and ``output_selector=`` resolved per layer (private)."""

    def __init__(self, output: Any, output_selector: Callable | None):
        if output_selector is not None and not callable(output_selector):
            raise TypeError(
                f"output_selector: expected a callable, got {type(output_selector).__name__}"
            )
        if output is not None and output_selector is not None:
            raise ValueError("output, output_selector: pass one of them, not both")
        self.rules: list[tuple[str, Selector]] = []
        self.default: Selector | None = None
        if output_selector is not None:
            self.default = Selector(output_selector, "output_selector")
        elif isinstance(output, Mapping):
            for pattern, sel in output.items():
                if not isinstance(pattern, str):
                    raise TypeError(
                        f"output: mapping keys must be layer names or glob patterns (str), "
                        f"got {type(pattern).__name__} {pattern!r}"
                    )
                self.rules.append((pattern, Selector(sel, f"output[{pattern!r}]")))
        elif output is not None:
            self.default = Selector(output, "output")

    def selector_for(self, module_name: str) -> Selector | None:
        for pattern, sel in self.rules:
            if fnmatch.fnmatchcase(module_name, pattern):
                return sel
        return self.default

    def check_used(self, modules: list[str]) -> None:
        for pattern, _ in self.rules:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in modules):
                raise ValueError(
                    f"output: {pattern!r} matches no recorded layer; recorded layers are "
                    f"{modules}"
                )

    def select(self, module_name: str, output: Any) -> tuple[torch.Tensor | None, str]:
        """The tensor to record (None if there is none) and the selector's text."""
        sel = self.selector_for(module_name)
        if sel is None:
            return first_tensor(output), "first tensor"
        got = sel(output, module_name)
        if got is not None and not isinstance(got, torch.Tensor):
            raise TypeError(
                f"output: selector {sel.text} gave {type(got).__name__} for layer "
                f"{module_name!r}; expected a torch.Tensor"
            )
        return got, sel.text


def transformer_blocks(model: nn.Module) -> list[str]:
    """The names of a transformer's blocks, for ``Recorder(layers=...)``.

    Each block's output is the residual stream after that block: what one
    compares across layers and runs. Found as the longest ``nn.ModuleList``
    whose items are all of one class (``nn.TransformerEncoder.layers``,
    BERT's ``encoder.layer``, GPT-2's ``h``, Llama's ``layers``, ...).
    Block outputs that are tuples (``(hidden_states, attentions, ...)``) are
    recorded by their first tensor, the hidden states.

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    list of str
        Module names in model order, e.g. ``["encoder.layer.0", "encoder.layer.1"]``.

    Raises
    ------
    ValueError
        The model has no such list.
    """
    from svccakit.record.recorder import unwrap_model

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    model = unwrap_model(model)
    best: tuple[str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        kinds = {type(m) for m in module}
        if len(kinds) != 1 or next(module.parameters(), None) is None:
            continue
        if best is None or len(module) > len(best[1]):
            best = (name, module)
    if best is None:
        raise ValueError(
            f"transformer_blocks: {type(model).__name__} has no nn.ModuleList of blocks of one "
            f"class; pass the block names to layers= yourself"
        )
    prefix = f"{best[0]}." if best[0] else ""
    return [f"{prefix}{i}" for i in range(len(best[1]))]
