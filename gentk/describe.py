"""Describing components (their config fields, types, defaults and docs) and the parts of a
recipe (`[run]`, `[data]`, `[model]`, `[[metrics]]`)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import attrs

from gentk.config import accepted_protocol, component_kind, field_doc, field_types, type_name
from gentk.errors import GentkError
from gentk.kinds import protocol_name
from gentk.registry import Component, available_hint, get_plugins


def find_component(name: str, kind: str | None = None) -> Component:
    if kind is not None:
        get_plugins().kind(kind)  # an unknown kind is an error listing the kinds
    matches = [c for c in get_plugins().components(kind) if c.name == name]
    if not matches:
        raise GentkError(
            f"no component named {name!r}" + (f" of kind {kind!r}" if kind else ""),
            hint=available_hint({c.name for c in get_plugins().components(kind)}),
        )
    if len(matches) > 1:
        kinds = ", ".join(c.kind for c in matches)
        raise GentkError(f"{name!r} names components of several kinds ({kinds})", hint="choose one with --kind")
    return matches[0]


def component_header(component: Component) -> list[str]:
    """Lines above the field table: what it is, where it comes from, how it is built."""
    kind = get_plugins().kind(component.kind)
    provides = ", ".join(protocol_name(p) for p in component.provides)
    lines = [
        f"{component.kind} {component.name} ({component.origin})",
        f"implements {protocol_name(kind.protocol)}" + (f", provides {provides}" if provides else ""),
        f"built by {kind.factory}",
    ]
    return lines + ([component.doc] if component.doc else [])


def component_fields(cls: type) -> list[tuple[str, str, str, str]]:
    """(key, type, default, doc) for each field of a config class."""
    types = field_types(cls)
    rows = []
    for field in attrs.fields(cls):
        kind = component_kind(field)
        if kind:
            default = field.metadata.get("gentk_default_use") or (
                "[]" if field.metadata.get("gentk_many") else "required"
            )
            accepts = accepted_protocol(field)
            what = f"{kind} component" + (f" ({protocol_name(accepts)})" if accepts is not None else "")
            rows.append((field.name, what, str(default), field_doc(field)))
            continue
        if field.default is attrs.NOTHING:
            default = "required"
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            made = field.default.factory()
            default = "(table)" if attrs.has(type(made)) else repr(made)
        elif field.default is None:
            default = "none"
        else:
            default = repr(field.default)
        rows.append((field.name, type_name(types[field.name]), default, field_doc(field)))
    return rows


# -- the parts of a recipe ------------------------------------------------------------------------
RECIPE_PARTS = ("recipe", "run", "data", "model", "metrics")
"""Names `gentk describe` explains as parts of a recipe rather than as components."""


@attrs.frozen
class PartDescription:
    """What `gentk describe PART` prints: lines of text, then a table."""

    lines: list[str]
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def describe_part(name: str) -> PartDescription:
    """The `[run]` table's keys, or the components that fit `[data]`, `[model]` or `[[metrics]]`."""
    from gentk.recipe import Recipe, RunConfig

    plugins = get_plugins()
    if name == "recipe":
        return PartDescription(
            [
                "a recipe is a TOML file with these top-level keys and tables; `gentk show RECIPE` prints one with "
                "every default written out, `gentk describe run|data|model|metrics` explains each part",
                "any key can be overridden on the command line: --set path.to.key=value (value parsed as TOML)",
            ],
            ("key", "type", "default", "doc"),
            component_fields(Recipe),
        )
    if name == "run":
        return PartDescription(
            [
                "[run] table: how the engine trains (seed, length, device, precision, logging, checkpoints)",
                inspect.cleandoc(RunConfig.__doc__ or ""),
                "every key is optional; TOML has no null, so leave a key out for none "
                "(`gentk show` prints unset keys as comments)",
            ],
            ("key", "type", "default", "doc"),
            component_fields(RunConfig),
        )
    if name == "data":
        return PartDescription(
            [
                '[data] table: the dataset, one dataset component chosen with use = "NAME"; the other keys of the '
                "table configure it (`gentk describe NAME --kind dataset` lists them)",
                "--set data.use=NAME switches to another dataset and drops the old one's keys",
            ],
            ("name", "plugin", "summary"),
            [(c.name, c.plugin, c.summary) for c in _sorted(plugins.components("dataset"))],
        )
    if name == "model":
        return PartDescription(
            [
                '[model] table: the model family, one model component chosen with use = "NAME"; the other keys '
                "configure it and its parts are sub-tables such as [model.optimizer] "
                "(`gentk describe NAME --kind model` lists them)",
                "--set model.use=NAME switches to another model and drops the old one's keys",
            ],
            ("name", "provides", "plugin", "summary"),
            [
                (c.name, ", ".join(protocol_name(p) for p in c.provides) or "-", c.plugin, c.summary)
                for c in _sorted(plugins.components("model"))
            ],
        )
    if name == "metrics":
        return PartDescription(
            [
                '[[metrics]]: an array of tables, each choosing one metric component with use = "NAME" (its other '
                "keys configure it); they are evaluated on the held-out split after each epoch; none: metrics = []",
                "a metric must fit the model: `needs` is what the model has to provide (see `gentk describe model`); "
                "`gentk check` reports a metric that does not fit",
            ],
            ("name", "needs", "plugin", "summary"),
            [
                (c.name, ", ".join(protocol_name(p) for p in c.requires) or "any model", c.plugin, c.summary)
                for c in _sorted(plugins.components("metric"))
            ],
        )
    raise GentkError(f"{name!r} is not a part of a recipe", hint=f"parts: {', '.join(RECIPE_PARTS)}")


def _sorted(components: list[Component]) -> list[Component]:
    return sorted(components, key=lambda c: c.name)
