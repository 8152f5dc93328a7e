"""Helpers for component configs: frozen attrs classes whose fields carry docs.

A component's config is plain data. Fields made with `param` hold TOML values; fields made
with `sub` hold another component, chosen in the recipe with `use = "name"` and resolved to a
`gentk.registry.Spec` before the config is built.

The recipe resolver checks each field's type and runs its validator on its own (with no
instance), so that every problem of a recipe is reported at once; checks that compare two
fields belong in `__attrs_post_init__`, whose ValueError is reported at the component's path
(a `ConfigError` names the key at fault, as in `model -> sampler -> steps`). Every number gets a
sane range (`in_range`, `open_range`, `ints_in`), so that a typo of 10**30 is refused up front;
floats must be finite (no inf or nan) and a recipe nests at most `MAX_DEPTH` levels.
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Any, Literal

import attrs
from attrs import validators as v

DOC = "gentk_doc"
KIND = "gentk_kind"
MANY = "gentk_many"
DEFAULT_USE = "gentk_default_use"
ACCEPTS = "gentk_accepts"

config = attrs.frozen(kw_only=True)
"""Decorator for component configs: frozen, keyword-only attrs classes."""

MAX_WIDTH = 65536
"""Upper bound of layer widths, channel counts and latent sizes."""
MAX_LAYERS = 64
"""Upper bound of layer and block counts (and of the length of a tuple of widths)."""
MAX_STEPS = 10**6
"""Upper bound of step counts (sampler steps, Langevin steps, classifier steps)."""
MAX_SEED = 2**63 - 1
"""Seeds are 0..2**63-1, so that derived seeds (seed + offset) stay within torch's 64 bits."""
MAX_DEPTH = 8
"""The deepest nesting of tables and arrays a recipe may have (real recipes need 4)."""

positive_ints = v.deep_iterable(v.and_(v.instance_of(int), v.gt(0)))
"""Validator: every item is a positive integer (layer widths, multipliers)."""

probability = v.and_(v.ge(0), v.lt(1))
"""Validator: a probability in [0, 1) (dropout, label dropout)."""


def in_range(low: float, high: float) -> Any:
    """Validator: low <= value <= high (sizes and counts get a sane upper bound, so a typo of
    10**30 is refused before anything is built)."""
    return v.and_(v.ge(low), v.le(high))


def open_range(low: float, high: float) -> Any:
    """Validator: low < value <= high (learning rates, stds, scales that must be positive)."""
    return v.and_(v.gt(low), v.le(high))


def ints_in(low: int, high: int, *, min_len: int = 0, max_len: int = MAX_LAYERS) -> Any:
    """Validator: a tuple of min_len..max_len integers, each in low..high (hidden widths,
    channel multipliers)."""
    return v.and_(
        v.min_len(min_len), v.max_len(max_len), v.deep_iterable(v.and_(v.instance_of(int), in_range(low, high)))
    )


valid_seed = in_range(0, MAX_SEED)
"""Validator: a random seed, 0..2**63-1."""

learning_rate = open_range(0, 10)
"""Validator: a learning rate in (0, 10]."""


def device_name(_instance: Any, attribute: Any, value: Any) -> None:
    """Validator: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps' (not 'meta' or another torch device type)."""
    if not isinstance(value, str) or not re.fullmatch(r"auto|cpu|mps|cuda(:[0-9]{1,3})?", value):
        raise ValueError(f"'{attribute.name}' must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', not {value!r}")


class ConfigError(ValueError):
    """A check across fields (raised in `__attrs_post_init__`) that names the key at fault:
    `ConfigError(message, "sampler", "steps")` is reported at `<component> -> sampler -> steps`."""

    def __init__(self, message: str, *path: str | int, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        self.hint = hint


def param(default: Any = attrs.NOTHING, doc: str = "", validator: Any = None, factory: Any = None):
    """A plain config field with a documentation string."""
    if factory is not None:
        return attrs.field(factory=factory, validator=validator, metadata={DOC: doc})
    return attrs.field(default=default, validator=validator, metadata={DOC: doc})


def sub(kind: str, default: str | None, doc: str = "", *, optional: bool = False, accepts: Any = None):
    """A field that holds a component of `kind`; `default` names the component used when the
    recipe leaves the table out (None: the recipe must give it, unless `optional`). `accepts`
    is a family protocol (say `DiffusionSampler`): only components that provide it fit."""
    meta = {DOC: doc, KIND: kind, DEFAULT_USE: default, ACCEPTS: accepts}
    return attrs.field(default=None, metadata=meta) if optional or default else attrs.field(metadata=meta)


def sub_list(kind: str, doc: str = "", *, accepts: Any = None):
    """A field that holds a list of components of `kind` (a TOML array of tables)."""
    return attrs.field(factory=list, metadata={DOC: doc, KIND: kind, MANY: True, ACCEPTS: accepts})


def component_kind(field: attrs.Attribute) -> str | None:
    return field.metadata.get(KIND)


def accepted_protocol(field: attrs.Attribute) -> Any:
    """The family protocol a component field asks for, or None (any component of its kind)."""
    return field.metadata.get(ACCEPTS)


def field_doc(field: attrs.Attribute) -> str:
    return field.metadata.get(DOC, "")


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation."""
    return typing.get_type_hints(cls)


def type_name(tp: Any) -> str:
    """A short, readable name for an annotation: `int`, `list[int]`, `'bernoulli' | 'gaussian'`."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if origin is tuple and len(args) > 1 and Ellipsis not in typing.get_args(tp):
            return f"list of {len(args)} {type_name(args[0])}s" if len(set(args)) == 1 else "list"
        return f"list[{type_name(args[0])}]" if args else "list"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def non_finite(value: Any) -> bool:
    """Whether a value is, or holds, a float that is inf or nan."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(non_finite(item) for item in value)
    return False


def check_value(value: Any, tp: Any) -> tuple[bool, Any]:
    """Whether a TOML value fits an annotation, and the value converted to it (int -> float,
    list -> tuple). Unknown annotations accept anything."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin is Literal:
        return value in typing.get_args(tp), value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, converted = check_value(value, arg)
            if ok:
                return True, converted
        return False, value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, value
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        fixed = origin is tuple and len(args) == len(typing.get_args(tp)) and len(args) > 1
        if fixed and len(value) != len(args):  # tuple[float, float]: exactly two
            return False, value
        items = []
        for i, item in enumerate(value):
            ok, converted = check_value(item, args[i if fixed else 0]) if args else (True, item)
            if not ok:
                return False, value
            items.append(converted)
        return True, tuple(items) if origin is tuple else items
    if tp is type(None):
        return value is None, value
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(value, int) and abs(value) > 2**1023:
            return False, value  # too large for a float
        return ok, float(value) if ok else value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if isinstance(tp, type):
        return isinstance(value, tp), value
    return True, value
