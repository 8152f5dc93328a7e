"""Recipes: TOML files that choose components by name and configure them.

`load_recipe(path, overrides)` parses the file, applies `--set` overrides, resolves every
`use = "name"` in its registry, checks every value against the component's attrs config and
reports all problems at once as a `RecipeError`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import validators as v

from gentk.config import (
    DEFAULT_USE,
    MANY,
    accepted_protocol,
    check_value,
    component_kind,
    config,
    field_types,
    in_range,
    param,
    sub,
    sub_list,
    type_name,
)
from gentk.errors import GentkError, Problem, RecipeError
from gentk.kinds import protocol_name, protocol_summary
from gentk.registry import Plugins, Spec, available_hint, get_plugins


@config
class RunConfig:
    """How the engine trains: seed, length, device, precision, logging."""

    seed: int = param(0, "random seed; runs with the same seed and recipe repeat exactly", in_range(0, 2**63 - 1))
    epochs: int = param(10, "passes over the training split", in_range(1, 10**6))
    batch_size: int = param(128, "examples per training step", in_range(1, 2**20))
    steps_per_epoch: int | None = param(
        None, "cap on steps per epoch (quick runs); none: the whole split", v.optional(in_range(1, 10**9))
    )
    device: str = param("auto", "'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'")
    precision: Literal["fp32", "bf16", "auto"] = param(
        "fp32", "'bf16' autocasts matmuls and convolutions; 'auto' uses bf16 where the hardware runs it fast"
    )
    threads: int | None = param(None, "CPU threads for torch; none: torch's default", v.optional(in_range(1, 1024)))
    n_samples: int = param(64, "samples drawn for the figure after each epoch", in_range(0, 100_000))
    sample_every: int = param(1, "draw the sample figure every N epochs", in_range(1, 10**6))
    checkpoint_every: str | None = param(
        None,
        'also checkpoint within epochs: every N steps ("500") or every N minutes ("10m"); none: at epoch ends',
        v.optional(v.matches_re(r"[1-9][0-9]{0,8}m?")),
    )
    keep_checkpoints: int = param(1, "how many of the latest checkpoints are kept", in_range(1, 1000))
    best_metric: str | None = param(
        None, 'also keep the checkpoint with the best value of this epoch figure (e.g. "nll/nll") as best.pt'
    )
    best_mode: Literal["min", "max"] = param("min", "whether the best value of best_metric is the lowest or highest")
    max_loss: float | None = param(
        None, "stop the run when the loss exceeds this (divergence with a finite loss); none: only non-finite stops"
    )


@config
class Recipe:
    """A whole experiment: data, model, run settings and the metrics logged after each epoch."""

    description: str = param("", "one line on what the recipe does")
    run: RunConfig = param(factory=RunConfig, doc="engine settings")
    data: Spec = sub("dataset", None, "the dataset")
    model: Spec = sub("model", None, "the model family and its parts")
    metrics: list = sub_list("metric", "metrics evaluated on the held-out split after each epoch")


# -- reading ----------------------------------------------------------------------------------
def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GentkError(
            "recipe file not found",
            file=str(path),
            hint="give the path of a .toml recipe, or a recipe's name (`gentk recipes` lists them)",
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise GentkError(
            f"TOML syntax error: {exc}", file=str(path), hint="see https://toml.io for the syntax"
        ) from None
    except UnicodeDecodeError:
        raise GentkError("the file is not UTF-8 text", file=str(path)) from None


def parse_value(text: str) -> Any:
    """A `--set` value: TOML if it parses (`32`, `1e-4`, `true`, `[1, 2]`), else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides to a parsed recipe (a copy). Setting `use` to another
    component starts its table afresh."""
    import copy

    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise GentkError(f"bad override {item!r}", hint="write --set path.to.key=value, e.g. --set run.epochs=2")
        *parents, leaf = [k.strip() for k in key.split(".")]
        table: dict | list = raw
        for depth, part in enumerate(parents):
            table = _child(table, part, key, ".".join(parents[: depth + 1]))
        value = parse_value(text.strip())
        if isinstance(table, list):
            raise GentkError(
                f"override {key!r}: set a key inside an entry of the array, not the entry itself",
                hint=f"e.g. --set {'.'.join(parents)}.0.use=NAME",
            )
        if leaf == "use" and table.get("use") != value:
            table.clear()  # another component: the old one's keys do not apply to it
        table[leaf] = value
    return raw


def _child(table: dict | list, part: str, key: str, where: str) -> dict | list:
    """The table at `part` below `table`: a key of a table, or an index into an array of tables."""
    if isinstance(table, list):
        if not part.isdigit() or int(part) >= len(table):
            raise GentkError(
                f"override {key!r}: {where!r} is not an entry of the array", hint=f"indices 0..{len(table) - 1}"
            )
        child = table[int(part)]
    else:
        child = table.setdefault(part, {})
        if isinstance(child, str):  # a component shorthand (`objective = "elbo"`) opened up as its table
            child = table[part] = {"use": child}
    if not isinstance(child, (dict, list)):
        raise GentkError(f"override {key!r}: {where!r} is a value, not a table")
    return child


# -- resolving --------------------------------------------------------------------------------
class _Resolver:
    def __init__(self, plugins: Plugins):
        self.plugins = plugins
        self.problems: list[Problem] = []

    def problem(self, path: tuple, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(message, tuple(path), hint))

    def component(
        self, kind: str, value: Any, path: tuple, default: str | None = None, accepts: Any = None
    ) -> Spec | None:
        if kind not in self.plugins.registries:
            self.problem(path, f"{kind!r} is not a component kind", available_hint(self.plugins.kinds, self.plugins))
            return None
        if isinstance(value, str):  # shorthand: `objective = "elbo"`
            value = {"use": value}
        if value is None:
            value = {"use": default} if default else None
        if not isinstance(value, dict):
            self.problem(path, f'expected a table choosing a {kind} (with `use = "name"`)')
            return None
        table = dict(value)
        name = table.pop("use", default)
        names = self.plugins.registries[kind]
        fitting = [n for n, c in names.items() if c.fits(accepts)]
        if name is None:
            self.problem(path, f"missing `use`: which {kind}?", available_hint(fitting))
            return None
        if not isinstance(name, str):
            self.problem(
                path + ("use",), f"`use` must be the name of a {kind} (a string), got {name!r}", available_hint(fitting)
            )
            return None
        if name not in names:
            self.problem(path + ("use",), f"no {kind} named {name!r}", available_hint(fitting, self.plugins))
            return None
        component = names[name]
        if not component.fits(accepts):
            self.problem(
                path + ("use",),
                f"{kind} {name!r} does not fit here: this slot needs a {protocol_name(accepts)} "
                f"({protocol_summary(accepts)}), which {name!r} does not provide",
                f"{kind}s that fit: {', '.join(sorted(fitting)) or 'none installed'}",
            )
            return None
        built = self.config(component.config, table, path)
        return None if built is None else Spec(component, built, accepts)

    def config(self, cls: type, table: dict, path: tuple) -> Any:
        fields = attrs.fields_dict(cls)
        for key in table:
            if key not in fields:
                self.problem(path + (key,), "unknown key", f"allowed keys: {', '.join(fields) or 'none'}")
        types = field_types(cls)
        values, ok = {}, True
        for name, field in fields.items():
            present = name in table
            result = self.field(field, types[name], table.get(name), present, path + (name,))
            if result is _FAILED:
                ok = False
            elif result is not _MISSING:
                values[name] = result
        if not ok:
            return None
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:  # validators that span fields
            self.problem(path, str(exc))
            return None

    def field(self, field: attrs.Attribute, tp: Any, value: Any, present: bool, path: tuple) -> Any:
        kind = component_kind(field)
        if kind and field.metadata.get(MANY):
            if not present:
                return _MISSING
            if not isinstance(value, list):
                self.problem(path, f"expected an array of tables, each choosing a {kind}")
                return _FAILED
            specs = [
                self.component(kind, item, path + (i,), accepts=accepted_protocol(field))
                for i, item in enumerate(value)
            ]
            return _FAILED if any(s is None for s in specs) else specs
        if kind:
            default = field.metadata.get(DEFAULT_USE)
            if not present and default is None:
                if field.default is attrs.NOTHING:
                    self.problem(
                        path,
                        f'missing: choose a {kind} with [{".".join(map(str, path))}] use = "name"',
                        available_hint(self.plugins.registries.get(kind, {})),
                    )
                    return _FAILED
                return _MISSING
            spec = self.component(kind, value, path, default, accepted_protocol(field))
            return _FAILED if spec is None else spec
        if attrs.has(tp):
            if present and not isinstance(value, dict):
                self.problem(path, "expected a table")
                return _FAILED
            built = self.config(tp, value or {}, path)
            return _FAILED if built is None else built
        if not present:
            if field.default is attrs.NOTHING:
                self.problem(path, f"missing required value ({type_name(tp)})")
                return _FAILED
            return _MISSING
        fits, converted = check_value(value, tp)
        if not fits:
            self.problem(path, f"expected {type_name(tp)}, got {value!r}")
            return _FAILED
        if field.validator is not None:
            try:
                field.validator(None, field, converted)
            except (TypeError, ValueError) as exc:
                self.problem(path, f"invalid value {value!r}", _validator_hint(exc))
                return _FAILED
        return converted


_MISSING = object()
_FAILED = object()


def _validator_hint(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return text.replace("'value'", "it") if text else "see `gentk describe`"


def resolve(raw: dict[str, Any], *, file: str | None = None, plugins: Plugins | None = None) -> Recipe:
    """Turn a parsed recipe into a validated `Recipe`; raise `RecipeError` listing every problem."""
    resolver = _Resolver(plugins or get_plugins())
    recipe = resolver.config(Recipe, raw, ())
    if resolver.problems or recipe is None:
        raise RecipeError(resolver.problems, file=file)
    return recipe


def load_recipe(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, plugins: Plugins | None = None
) -> Recipe:
    """Read, override and resolve a recipe file."""
    raw = apply_overrides(read_toml(path), list(overrides))
    return resolve(raw, file=str(path), plugins=plugins)


def resolve_component(
    kind: str, table: dict[str, Any] | str, *, plugins: Plugins | None = None, accepts: Any = None
) -> Spec:
    """Resolve one component table (e.g. a sampler chosen on the command line); `accepts` is
    the family protocol it must provide."""
    resolver = _Resolver(plugins or get_plugins())
    spec = resolver.component(kind, table, (kind,), accepts=accepts)
    if resolver.problems or spec is None:
        raise RecipeError(resolver.problems)
    return spec


# -- writing back -----------------------------------------------------------------------------
def to_data(obj: Any) -> Any:
    """A resolved recipe (or any part of it) as plain TOML-ready data, defaults included."""
    if isinstance(obj, Spec):
        return {"use": obj.name, **to_data(obj.config)}
    if attrs.has(type(obj)):
        out = {}
        for field in attrs.fields(type(obj)):
            value = to_data(getattr(obj, field.name))
            if value is not None:
                out[field.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return [to_data(x) for x in obj]
    return obj


def dumps(recipe: Recipe) -> str:
    """The resolved recipe as TOML text: scalars first, then tables (as TOML requires)."""
    import tomli_w

    return tomli_w.dumps(to_data(recipe))
