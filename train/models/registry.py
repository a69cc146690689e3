"""Model registry in the timm style: ``@register_model`` variants, ``create_model(name, **cfg)``.

Every module in ``train/models/`` (besides ``base``, ``spec``, ``registry`` and
the ``backbones`` package) is imported on first use, so an architecture file
only has to decorate its variant functions::

    @register_model("fsanet_var", recipe=Recipe(...), paper="FSA-Net (CVPR 2019)")
    def fsanet_var(**cfg) -> PoseModel: ...

Duplicate names raise at import. ``create_model`` rejects unknown names (with
close matches), unknown keyword arguments (with the accepted ones) and option
values of the wrong type (checked against the variant's annotations: ``int``,
``float``, ``str``, ``bool``, ``X | None``, ``tuple[...]``, ``Sequence[X]``, ``dict``).
"""
from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import pkgutil
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .base import ModelError, PoseModel
from .spec import Recipe

#: modules of this package that register no model (helpers the architectures share)
_NOT_ARCHITECTURES = {"base", "spec", "registry", "backbones", "losses", "distill"}


@dataclass(frozen=True)
class ModelEntry:
    """A registered variant: factory ``fn(**cfg) -> PoseModel``, default recipe, citation."""

    name: str
    fn: Callable[..., PoseModel]
    recipe: Recipe
    paper: str = ""


_REGISTRY: dict[str, ModelEntry] = {}
_loaded = False


def register_model(name: str, recipe: Recipe | None = None, paper: str = ""):
    """Decorator registering ``fn`` under ``name`` (ValueError on a duplicate name)."""
    def deco(fn: Callable[..., PoseModel]) -> Callable[..., PoseModel]:
        if name in _REGISTRY and (_REGISTRY[name].fn.__module__, _REGISTRY[name].fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"model name {name!r} is registered twice ({_REGISTRY[name].fn.__module__} and {fn.__module__})")
        _REGISTRY[name] = ModelEntry(name, fn, recipe or Recipe(), paper)
        return fn
    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    pkg_dir = Path(__file__).resolve().parent
    for info in pkgutil.iter_modules([str(pkg_dir)]):
        if info.name not in _NOT_ARCHITECTURES and not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def list_models() -> list[str]:
    """Sorted names of every registered model."""
    _load_all()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; ModelError naming close matches otherwise."""
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ModelError(f"unknown model {name!r}.{hint} Registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def get_recipe(name: str) -> Recipe:
    """The paper's default training recipe for model ``name``."""
    return get_entry(name).recipe


def value_fits(value: Any, tp: Any) -> bool:
    """True when ``value`` (as YAML or JSON gives it: lists for tuples) fits the annotation ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(value, a) for a in args)
    if tp is type(None) or tp is None:
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(value_fits(v, args[0]) for v in value)
        return not args or (len(value) == len(args) and all(value_fits(v, a) for v, a in zip(value, args)))
    if origin in (list, collections.abc.Sequence):
        return (isinstance(value, (list, tuple)) and not isinstance(value, str)
                and all(value_fits(v, args[0]) for v in value) if args else isinstance(value, (list, tuple)))
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True   # an annotation this check does not know: the factory itself decides


def _check_options(name: str, fn: Callable[..., PoseModel], cfg: dict) -> None:
    """ModelError naming the option, its declared type and its default when a value does not fit."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    for key, value in cfg.items():
        param = sig.parameters.get(key)
        if param is None or key not in hints or value_fits(value, hints[key]):
            continue
        declared = param.annotation if isinstance(param.annotation, str) else getattr(hints[key], "__name__", hints[key])
        default = "" if param.default is inspect.Parameter.empty else f" (default {param.default!r})"
        raise ModelError(f"model {name!r} option {key}={value!r}: expected {declared}{default}; "
                         f"fix: --model-arg {key}=VALUE of that type")


def create_model(name: str, **cfg) -> PoseModel:
    """Build model ``name`` with keyword config ``cfg``; unknown keys or values of the wrong type raise ModelError
    listing what is accepted."""
    entry = get_entry(name)
    sig = inspect.signature(entry.fn)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    if not takes_any:
        unknown = sorted(set(cfg) - set(sig.parameters))
        if unknown:
            raise ModelError(f"model {name!r} does not take {', '.join(unknown)}; it takes: {', '.join(sig.parameters) or 'no options'}")
    _check_options(name, entry.fn, cfg)
    model = entry.fn(**cfg)
    model.model_name = name
    model.model_cfg = dict(cfg)
    return model
