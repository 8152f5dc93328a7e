"""Recipes: TOML files that choose components by name and configure them.

`load_recipe(path, overrides)` parses the file, applies `--set` overrides, resolves every
`use = "name"` in its registry, checks every value against the component's attrs config and
reports all problems at once as a `RecipeError`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import attrs
from attrs import validators as v

from gentk.config import (
    DEFAULT_USE,
    MANY,
    MAX_DEPTH,
    MAX_SEED,
    ConfigError,
    accepted_protocol,
    check_value,
    component_kind,
    config,
    device_name,
    field_types,
    in_range,
    non_finite,
    param,
    sub,
    sub_list,
    type_name,
)
from gentk.errors import GentkError, Problem, RecipeError
from gentk.kinds import protocol_name, protocol_summary
from gentk.registry import Component, Plugins, Spec, available_hint, get_plugins


@config
class RunConfig:
    """How the engine trains: seed, length, device, precision, logging."""

    seed: int = param(0, "random seed; runs with the same seed and recipe repeat exactly", in_range(0, MAX_SEED))
    epochs: int = param(10, "passes over the training split", in_range(1, 10**6))
    batch_size: int = param(128, "examples per training step", in_range(1, 2**20))
    steps_per_epoch: int | None = param(
        None, "cap on steps per epoch (quick runs); none: the whole split", v.optional(in_range(1, 10**9))
    )
    device: str = param("auto", "'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'", device_name)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = param(
        "fp32",
        "'bf16' autocasts matmuls and convolutions; 'fp16' too, with a dynamic loss scale (GPUs without fast "
        "bf16); 'auto': bf16 where the hardware runs it fast, fp16 on other GPUs, else fp32",
    )
    threads: int | None = param(None, "CPU threads for torch; none: torch's default", v.optional(in_range(1, 1024)))
    compile: bool = param(
        False, "torch.compile every network before training (pays on GPUs; the first steps then take minutes)"
    )
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
    except RecursionError:
        raise GentkError(
            "the file nests tables or arrays too deeply to read",
            file=str(path),
            hint=f"recipes nest at most {MAX_DEPTH} deep",
        ) from None
    except UnicodeDecodeError:
        raise GentkError("the file is not UTF-8 text", file=str(path)) from None


def parse_value(text: str) -> Any:
    """A `--set` value: TOML if it parses (`32`, `1e-4`, `true`, `[1, 2]`), else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise GentkError(
            f"--set value nested too deeply: {text[:40]}...", hint=f"recipes nest at most {MAX_DEPTH} deep"
        ) from None


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
            self.problem(path, f'expected a table choosing {_a(kind)} (with `use = "name"`)')
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
        except ConfigError as exc:  # a check across fields that names the key at fault
            self.problem(path + exc.path, exc.message, exc.hint)
            return None
        except (TypeError, ValueError) as exc:  # validators that span fields
            self.problem(path, str(exc))
            return None

    def field(self, field: attrs.Attribute, tp: Any, value: Any, present: bool, path: tuple) -> Any:
        kind = component_kind(field)
        if kind and field.metadata.get(MANY):
            if not present:
                return _MISSING
            if not isinstance(value, list):
                self.problem(path, f"expected an array of tables, each choosing {_a(kind)}")
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
                        f'missing: choose {_a(kind)} with [{".".join(map(str, path))}] use = "name"',
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
            self.problem(path, f"expected {type_name(tp)}, got {_short(value)}")
            return _FAILED
        if non_finite(converted):
            self.problem(path, f"expected a finite number, got {_short(value)}")
            return _FAILED
        if field.validator is not None:
            try:
                field.validator(None, field, converted)
            except ConfigError as exc:  # a validator with its own message (a folder that does not exist)
                self.problem(path + exc.path, exc.message, exc.hint)
                return _FAILED
            except (TypeError, ValueError) as exc:
                self.problem(path, f"invalid value {_short(value)}", _validator_hint(exc))
                return _FAILED
        return converted

    def metrics_fit(self, recipe: Recipe) -> None:
        """Each metric's `requires` against what the model provides."""
        for i, metric in enumerate(recipe.metrics):
            misfit = metric_misfit(recipe.model.component, metric.component, self.plugins)
            if misfit is not None:
                self.problem(("metrics", i, "use"), *misfit)


_MISSING = object()
_FAILED = object()


def _a(noun: str) -> str:
    """`a dataset`, `an optimizer`."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _short(value: Any, limit: int = 80) -> str:
    """repr of a value, cut short (a hostile value may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def depth_problems(raw: Any, path: tuple = (), depth: int = 0) -> list[Problem]:
    """A problem for each table or array nested more than MAX_DEPTH deep (not looked into further)."""
    if not isinstance(raw, (dict, list)):
        return []
    if depth >= MAX_DEPTH:
        return [
            Problem(
                f"nested too deeply: recipes nest tables and arrays at most {MAX_DEPTH} levels",
                path,
                "a --set key or inline table with too many levels?",
            )
        ]
    items = raw.items() if isinstance(raw, dict) else enumerate(raw)
    return [p for key, value in items for p in depth_problems(value, path + (key,), depth + 1)]


def check_depth(raw: Any, *, file: str | None = None) -> None:
    """Raise a RecipeError when a parsed recipe nests deeper than MAX_DEPTH."""
    problems = depth_problems(raw)
    if problems:
        raise RecipeError(problems, file=file)


def metric_misfit(model: Component, metric: Component, plugins: Plugins | None = None) -> tuple[str, str] | None:
    """(message, hint) when `metric` needs a protocol that `model` does not provide; None when it fits."""
    unmet = metric.unmet(model)
    if not unmet:
        return None
    needs = " and ".join(protocol_name(p) for p in unmet)
    registry = (plugins or get_plugins()).registries.get("metric", {})
    fitting = sorted(name for name, c in registry.items() if not c.unmet(model))
    return (
        f"metric {metric.name!r} needs a model that provides {needs}; model {model.name!r} does not",
        f"metrics that fit model {model.name!r}: {', '.join(fitting) or 'none installed'}",
    )


def check_metric_fits(model: Spec | Component, metric: Spec | Component) -> None:
    """Raise a GentkError when a metric cannot measure a model (say `nll`, which needs a
    LatentVariableModel, on a `ddpm`); `gentk eval` calls it before building anything."""
    model_c = model.component if isinstance(model, Spec) else model
    metric_c = metric.component if isinstance(metric, Spec) else metric
    misfit = metric_misfit(model_c, metric_c)
    if misfit is not None:
        raise GentkError(misfit[0], hint=misfit[1])


def _validator_hint(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    text = text if len(text) <= 200 else text[:197] + "..."  # attrs quotes the (maybe huge) value
    return text.replace("'value'", "it") if text else "see `gentk describe`"


def resolve(raw: dict[str, Any], *, file: str | None = None, plugins: Plugins | None = None) -> Recipe:
    """Turn a parsed recipe into a validated `Recipe`; raise `RecipeError` listing every problem."""
    check_depth(raw, file=file)
    resolver = _Resolver(plugins or get_plugins())
    recipe = resolver.config(Recipe, raw, ())
    if recipe is not None:
        resolver.metrics_fit(recipe)
    if resolver.problems or recipe is None:
        raise RecipeError(resolver.problems, file=file)
    return recipe


def load_recipe(
    path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, plugins: Plugins | None = None
) -> Recipe:
    """Read, override and resolve a recipe file."""
    raw = read_toml(path)
    check_depth(raw, file=str(path))
    raw = apply_overrides(raw, list(overrides))
    return resolve(raw, file=str(path), plugins=plugins)


def resolve_component(
    kind: str, table: dict[str, Any] | str, *, plugins: Plugins | None = None, accepts: Any = None
) -> Spec:
    """Resolve one component table (e.g. a sampler chosen on the command line); `accepts` is
    the family protocol it must provide."""
    check_depth(table)
    resolver = _Resolver(plugins or get_plugins())
    spec = resolver.component(kind, table, (kind,), accepts=accepts)
    if resolver.problems or spec is None:
        raise RecipeError(resolver.problems)
    return spec


# -- writing back -----------------------------------------------------------------------------
def to_data(obj: Any, *, keep_none: bool = False) -> Any:
    """A resolved recipe (or any part of it) as plain TOML-ready data, defaults included; unset
    optional values (None) are left out unless `keep_none`."""
    if isinstance(obj, Spec):
        return {"use": obj.name, **to_data(obj.config, keep_none=keep_none)}
    if attrs.has(type(obj)):
        out = {}
        for field in attrs.fields(type(obj)):
            value = to_data(getattr(obj, field.name), keep_none=keep_none)
            if value is not None or keep_none:
                out[field.name] = value
        return out
    if isinstance(obj, (list, tuple)):
        return [to_data(x, keep_none=keep_none) for x in obj]
    return obj


def dumps(recipe: Recipe) -> str:
    """The resolved recipe as TOML text, every default written out: scalars first, then tables
    (as TOML requires), arrays of tables as `[[name]]`. TOML has no null, so an unset optional
    value is a comment line in its table (`# steps_per_epoch = none  (unset)`): the text parses
    and resolves back to the same recipe."""
    lines: list[str] = []
    _emit_table(to_data(recipe, keep_none=True), (), lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml_key(key: Any) -> str:
    import json
    import re

    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    """A value as TOML text; arrays of plain values on one line (`[1, 2, 2]`)."""
    import tomli_w

    if isinstance(value, (list, tuple)) and not any(isinstance(v, (dict, list, tuple)) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).rstrip("\n").removeprefix("v = ")


def _emit_table(table: dict[str, Any], prefix: tuple[str, ...], lines: list[str]) -> None:
    for key, value in table.items():
        if value is None:
            lines.append(f"# {_toml_key(key)} = none  (unset)")
        elif not _is_table(value) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        name = ".".join(_toml_key(k) for k in (*prefix, key))
        if _is_table(value):
            lines += ["", f"[{name}]"]
            _emit_table(value, (*prefix, key), lines)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                _emit_table(item, (*prefix, key), lines)


def component_settings(items: Iterable[str]) -> dict[str, Any]:
    """`--set key=value` items as a component's table; `extractor.use=inception` sets a sub-component's key."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GentkError(f"bad --set {item!r}", hint="write --set key=value, e.g. --set n_samples=1000")
        *tables, last = key.strip().split(".")
        table = config
        for name in tables:
            table = table.setdefault(name, {})
        table[last] = parse_value(value.strip())
    return config
