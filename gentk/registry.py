"""Plugin discovery and component registries.

Bundled and third-party plugins are found the same way: modules named by entry points in the
`gentk` group. Each registers components through the hooks in `gentk.hookspecs`; every
registry entry remembers the plugin and distribution that supplied it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from gentk import hookspecs
from gentk.errors import GentkError, PluginError

ENTRY_POINT_GROUP = "gentk"
BLOCK_ENV = "GENTK_BLOCK_PLUGINS"
"""Comma-separated plugin (entry point) or distribution names that are not loaded."""


def lazy(target: str) -> Callable[..., Any]:
    """A factory imported on first call: `lazy("gentk_vae.networks:MLPEncoder")`."""
    module_name, _, attr = target.partition(":")

    def factory(*args, **kwargs):
        return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    factory.target = target
    return factory


@attrs.frozen
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str


@attrs.frozen
class PluginFailure:
    name: str
    distribution: str | None
    entry_point: str
    cause: str


@attrs.frozen
class Component:
    """A registered component: what `use = name` refers to."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type
    plugin: str
    distribution: str | None = None

    @property
    def doc(self) -> str:
        return (self.config.__doc__ or "").strip()

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""


@attrs.frozen
class Spec:
    """A component chosen and configured by a recipe, ready to build."""

    component: Component
    config: Any

    @property
    def name(self) -> str:
        return self.component.name

    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.component.factory(self.config, *args, **kwargs)


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


class Plugins:
    """The plugin manager plus one registry per component kind."""

    def __init__(self, *, load_entry_points: bool = True):
        self.manager = pluggy.PluginManager("gentk")
        self.manager.add_hookspecs(hookspecs)
        self.info: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self._registries: dict[str, dict[str, Component]] | None = None
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        blocked = _blocked_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else None
            if ep.name in blocked or dist in blocked or self.manager.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self.failures.append(PluginFailure(ep.name, dist, ep.value, f"{type(exc).__name__}: {exc}"))
                continue
            self.add(module, ep.name, dist, ep.dist.version if ep.dist else None)

    def add(self, plugin: Any, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register a plugin object or module (third-party code, or a test's fixture)."""
        self.manager.register(plugin, name=name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.info.append(PluginInfo(name, distribution, version, module))
        self._registries = None

    def remove(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.info = [p for p in self.info if p.name != name]
        self._registries = None

    # -- registries ---------------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Component]]:
        registries: dict[str, dict[str, Component]] = {kind: {} for kind in hookspecs.KINDS}
        dists = {p.name: p.distribution for p in self.info}
        for kind, hook_name in hookspecs.KINDS.items():
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                plugin = self.manager.get_name(impl.plugin)
                register = self._register_into(registries[kind], kind, plugin, dists.get(plugin))
                impl.function(register)
        return registries

    @staticmethod
    def _register_into(table: dict, kind: str, plugin: str, dist: str | None):
        def register(name: str, factory: Callable[..., Any], config: type) -> None:
            if not attrs.has(config):
                raise PluginError(f"plugin {plugin!r}: the config of {kind} {name!r} is not an attrs class")
            if name in table:
                other = table[name]
                raise PluginError(
                    f"{kind} {name!r} is registered by two plugins: {other.plugin!r} "
                    f"({other.distribution or 'no distribution'}) and {plugin!r} ({dist or 'no distribution'})",
                    hint=f"uninstall one of them or block it with {BLOCK_ENV}={plugin}",
                )
            table[name] = Component(kind, name, factory, config, plugin, dist)

        return register

    @property
    def registries(self) -> dict[str, dict[str, Component]]:
        if self._registries is None:
            self._registries = self._collect()
        return self._registries

    def components(self, kind: str | None = None) -> list[Component]:
        kinds = [kind] if kind else list(self.registries)
        return [c for k in kinds for c in self.registries[k].values()]

    def get(self, kind: str, name: str) -> Component:
        table = self.registries.get(kind)
        if table is None:
            raise GentkError(f"unknown component kind {kind!r}", hint=f"kinds: {', '.join(self.registries)}")
        if name not in table:
            raise GentkError(f"no {kind} named {name!r}", hint=available_hint(table, self))
        return table[name]


def available_hint(names: Iterable[str], plugins: Plugins | None = None) -> str:
    listed = ", ".join(sorted(names)) or "none"
    hint = f"available: {listed}"
    if plugins is not None:
        installed = ", ".join(p.name for p in plugins.info) or "none"
        hint += f" (installed plugins: {installed}; `gentk plugins` shows more)"
    return hint


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin manager, loaded on first use."""
    global _default
    if _default is None:
        _default = Plugins()
    return _default


def reset_plugins() -> None:
    """Forget the loaded plugins (tests; after installing a plugin at run time)."""
    global _default
    _default = None
