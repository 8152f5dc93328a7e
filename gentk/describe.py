"""Describing components: their config fields, types, defaults and docs."""

from __future__ import annotations

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
            default = repr(field.default.factory())
        else:
            default = repr(field.default)
        rows.append((field.name, type_name(types[field.name]), default, field_doc(field)))
    return rows
