"""Plugin discovery and component registries.

Bundled and third-party plugins are found the same way: modules named by entry points in the
`gentk` group. Each registers kinds, components and recipe folders through the hooks in
`gentk.hookspecs`, called through pluggy one plugin at a time, so that every registry entry
remembers the plugin and distribution that supplied it and a plugin that fails to import or
to register is skipped (and reported) while the others keep working.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import attrs
import pluggy

from gentk import hookspecs
from gentk.errors import ComponentError, GentkError, Interrupted, PluginError
from gentk.kinds import BUNDLED, Kind, protocol_name, protocol_summary

ENTRY_POINT_GROUP = "gentk"
BLOCK_ENV = "GENTK_BLOCK_PLUGINS"
"""Comma-separated plugin (entry point) or distribution names that are not loaded."""
CORE = "gentk"
"""The distribution of the core and the bundled plugins."""


def lazy(target: str) -> Callable[..., Any]:
    """A factory imported on first call: `lazy("gentk_vae.networks:mlp_encoder")`."""
    module_name, _, attr = target.partition(":")

    def factory(*args: Any, **kwargs: Any) -> Any:
        try:
            built = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"cannot import the factory {target!r}: {type(exc).__name__}: {exc}",
                hint="the plugin registered a lazy path that does not exist",
            ) from exc
        return built(*args, **kwargs)

    factory.target = target  # type: ignore[attr-defined]
    return factory


# -- records ------------------------------------------------------------------------------------
@attrs.frozen
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    module: str


@attrs.frozen
class PluginFailure:
    """A plugin that was skipped: it failed to import (`stage` "import") or to register."""

    name: str
    distribution: str | None
    entry_point: str
    cause: str
    stage: str = "import"

    def render(self) -> str:
        dist = self.distribution or "no distribution"
        return (
            f"plugin {self.name!r} ({dist}) failed to {self.stage} and was skipped: {self.cause} "
            f"(block it with {BLOCK_ENV}={self.name})"
        )


@attrs.frozen
class PluginWarning:
    """Something odd about a plugin that does not stop it loading (an unknown hook name)."""

    name: str
    distribution: str | None
    message: str

    def render(self) -> str:
        return f"plugin {self.name!r} ({self.distribution or 'no distribution'}): {self.message}"


@attrs.frozen
class Component:
    """A registered component: what `use = name` refers to."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: type
    plugin: str
    distribution: str | None = None
    protocol: Any = None  # the kind's protocol, checked on every built component
    provides: tuple[Any, ...] = ()  # family protocols it implements
    requires: tuple[Any, ...] = ()  # protocols the model must provide (metrics: what they measure)

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.config.__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.splitlines()[0] if self.doc else ""

    @property
    def origin(self) -> str:
        return f"plugin {self.plugin!r}, distribution {self.distribution or '-'}"

    def fits(self, protocol: Any) -> bool:
        """Whether it provides `protocol` (or a protocol derived from it); None fits anything."""
        return protocol is None or any(protocol in getattr(p, "__mro__", (p,)) for p in self.provides)

    def unmet(self, model: Component) -> list[Any]:
        """The protocols of `requires` that `model` does not provide (empty: it fits the model)."""
        return [p for p in self.requires if not model.fits(p)]


@attrs.frozen
class Spec:
    """A component chosen and configured by a recipe, ready to build. `accepts` is the family
    protocol the slot it fills asks for."""

    component: Component
    config: Any
    accepts: Any = None

    @property
    def name(self) -> str:
        return self.component.name

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory; errors inside it and a result that breaks the protocols it promises
        are reported as errors of this component."""
        with attributed(self.component, "while being built"):
            built = self.component.factory(self.config, *args, **kwargs)
        verify(built, self.component, self.accepts)
        return built


# -- checks on what plugins give ----------------------------------------------------------------
def protocol_members(protocol: Any) -> list[str]:
    """The attributes and methods a protocol declares (its own and its bases')."""
    names: list[str] = []
    for cls in reversed(getattr(protocol, "__mro__", ())):
        if cls is object or not getattr(cls, "_is_protocol", False) or cls.__name__ in ("Protocol", "Generic"):
            continue
        for name in [*getattr(cls, "__annotations__", {}), *vars(cls)]:
            if (not name.startswith("_") or name == "__call__") and name not in names:
                names.append(name)
    return names


def missing_members(obj: Any, protocol: Any) -> list[str]:
    return [m for m in protocol_members(protocol) if not hasattr(obj, m)]


def verify(obj: Any, component: Component, accepts: Any = None) -> None:
    """Raise a PluginError naming the component when `obj` lacks what its kind's protocol, the
    family protocols it provides or the slot's protocol declare."""
    for protocol in (component.protocol, *component.provides, accepts):
        if protocol is None or isinstance(obj, protocol):
            continue
        missing = ", ".join(missing_members(obj, protocol)) or "a member of the right kind"
        raise PluginError(
            f"{component.kind} {component.name!r} ({component.origin}) built a {type(obj).__name__}, "
            f"which does not implement {protocol_name(protocol)}: missing {missing}",
            hint=f"{protocol_name(protocol)}: {protocol_summary(protocol)}",
        )


@contextmanager
def attributed(component: Component, action: str) -> Iterator[None]:
    """Report an unexpected exception raised inside a component's code as an error of that
    component (kind, name, plugin, distribution); user errors (GentkError) pass unchanged."""
    try:
        yield
    except (GentkError, KeyboardInterrupt, Interrupted):  # a user's error, or a stop they asked for
        raise
    except Exception as exc:
        raise ComponentError(
            component.kind, component.name, component.plugin, component.distribution, action, exc
        ) from exc


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip()}


def _load_order(ep: metadata.EntryPoint) -> tuple[bool, str]:
    """Bundled plugins first (so a third-party name clash skips the third party), then by name."""
    return (ep.dist is None or ep.dist.name != CORE, ep.name)


# -- the manager ---------------------------------------------------------------------------------
@attrs.define
class _Staged:
    """What one plugin registered, merged into the registries only if all of it is valid."""

    kinds: dict[str, Kind] = attrs.Factory(dict)
    components: list[Component] = attrs.Factory(list)
    folders: list[Any] = attrs.Factory(list)


class Plugins:
    """The plugin manager plus one registry per component kind."""

    def __init__(self, *, load_entry_points: bool = True):
        self.manager = pluggy.PluginManager("gentk")
        self.manager.add_hookspecs(hookspecs)
        self.info: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.warnings: list[PluginWarning] = []
        self._collected: tuple[dict[str, Kind], dict[str, dict[str, Component]], list[tuple[str, Any]]] | None = None
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        blocked = _blocked_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=_load_order):
            dist = ep.dist.name if ep.dist else None
            if ep.name in blocked or dist in blocked or self.manager.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self.failures.append(PluginFailure(ep.name, dist, ep.value, f"{type(exc).__name__}: {exc}"))
                continue
            self.add(module, ep.name, dist, ep.dist.version if ep.dist else None, entry_point=ep.value)

    def add(
        self,
        plugin: Any,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        *,
        entry_point: str = "",
    ) -> bool:
        """Register a plugin object or module (third-party code, or a test's fixture); False
        (and a recorded failure) when pluggy rejects its hooks."""
        module = getattr(plugin, "__name__", type(plugin).__name__)
        try:
            self.manager.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            cause = " ".join(str(exc).split())
            self.failures.append(PluginFailure(name, distribution, entry_point or module, cause, "register"))
            return False
        self.info.append(PluginInfo(name, distribution, version, module))
        self.warnings += [PluginWarning(name, distribution, m) for m in _hook_name_problems(plugin)]
        self._collected = None
        return True

    def remove(self, name: str) -> None:
        self.manager.unregister(name=name)
        self.info = [p for p in self.info if p.name != name]
        self.warnings = [w for w in self.warnings if w.name != name]
        self._collected = None

    def problems(self) -> list[str]:
        """One line per failed plugin and per warning, for the CLI to print."""
        return [f.render() for f in self.failures] + [w.render() for w in self.warnings]

    # -- collecting registrations ------------------------------------------------------------
    def _call(self, plugin: str, hook: str, register: Callable[..., Any]) -> None:
        """Call one plugin's implementation of `hook` through pluggy."""
        others = [p for n, p in self.manager.list_name_plugin() if n != plugin]
        self.manager.subset_hook_caller(hook, remove_plugins=others)(register=register)

    def _collect(self) -> tuple[dict[str, Kind], dict[str, dict[str, Component]], list[tuple[str, Any]]]:
        kinds: dict[str, Kind] = dict(BUNDLED)
        tables: dict[str, dict[str, Component]] = {k: {} for k in kinds}
        folders: list[tuple[str, Any]] = []
        names = [p.name for p in self.info]
        staged = {name: _Staged() for name in names}
        for name in list(names):  # kinds first: any plugin may use another's kind
            try:
                self._call(name, "gentk_register_kinds", self._kind_register(name, kinds, staged[name]))
            except Exception as exc:
                self._fail(name, exc)
                names.remove(name)
                continue
            kinds.update(staged[name].kinds)
            tables.update({k: {} for k in staged[name].kinds})
        for name in names:
            try:
                self._stage_components(name, kinds, staged[name])
                _check_clashes(staged[name].components, tables)
            except Exception as exc:
                self._fail(name, exc)
                for kind in staged[name].kinds:
                    kinds.pop(kind, None)
                    tables.pop(kind, None)
                continue
            for c in staged[name].components:
                tables[c.kind][c.name] = c
            folders += [(name, folder) for folder in staged[name].folders]
        return kinds, tables, folders

    def _fail(self, name: str, exc: Exception) -> None:
        info = next(p for p in self.info if p.name == name)
        if isinstance(exc, GentkError):
            cause = exc.message + (f" ({exc.hint})" if exc.hint else "")
        else:
            cause = f"{type(exc).__name__}: {exc}"
        self.failures.append(PluginFailure(name, info.distribution, info.module, cause, "register"))
        self.info = [p for p in self.info if p.name != name]

    def _kind_register(self, plugin: str, kinds: dict[str, Kind], staged: _Staged) -> Callable[..., None]:
        dist = self._distribution(plugin)

        def register(name: str, protocol: Any, doc: str, *, factory: str = "factory(config)") -> None:
            if not isinstance(name, str) or not name.isidentifier():
                raise PluginError(f"kind name {name!r} is not an identifier")
            if name in kinds or name in staged.kinds:
                owner = kinds[name].plugin if name in kinds else plugin
                raise PluginError(f"kind {name!r} is already declared by plugin {owner!r}")
            if not getattr(protocol, "_is_runtime_protocol", False):
                raise PluginError(f"the protocol of kind {name!r} is not a @runtime_checkable typing.Protocol")
            staged.kinds[name] = Kind(name, protocol, doc, factory, plugin=plugin, distribution=dist)

        return register

    def _stage_components(self, plugin: str, kinds: dict[str, Kind], staged: _Staged) -> None:
        dist = self._distribution(plugin)

        def add(
            kind: str,
            name: str,
            factory: Callable[..., Any],
            config: type,
            provides: Iterable[Any],
            requires: Iterable[Any],
        ) -> None:
            if kind not in kinds:
                raise PluginError(f"{kind!r} is not a component kind", hint=available_hint(kinds))
            provides, requires = tuple(provides), tuple(requires)
            _check_registration(kinds[kind], name, factory, config, provides, requires)
            staged.components.append(
                Component(kind, name, factory, config, plugin, dist, kinds[kind].protocol, provides, requires)
            )

        for kind, hook in hookspecs.KIND_HOOKS.items():

            def one_kind(
                name: str,
                factory: Any,
                config: type,
                *,
                provides: Iterable[Any] = (),
                requires: Iterable[Any] = (),
                _kind: str = kind,
            ) -> None:
                add(_kind, name, factory, config, provides, requires)

            self._call(plugin, hook, one_kind)

        def any_kind(
            kind: str,
            name: str,
            factory: Any,
            config: type,
            *,
            provides: Iterable[Any] = (),
            requires: Iterable[Any] = (),
        ) -> None:
            add(kind, name, factory, config, provides, requires)

        self._call(plugin, "gentk_register_components", any_kind)
        self._call(plugin, "gentk_register_recipes", staged.folders.append)

    def _distribution(self, plugin: str) -> str | None:
        return next((p.distribution for p in self.info if p.name == plugin), None)

    @property
    def _state(self) -> tuple[dict[str, Kind], dict[str, dict[str, Component]], list[tuple[str, Any]]]:
        if self._collected is None:
            self._collected = self._collect()
        return self._collected

    # -- registries ---------------------------------------------------------------------------
    @property
    def kinds(self) -> dict[str, Kind]:
        return self._state[0]

    @property
    def registries(self) -> dict[str, dict[str, Component]]:
        return self._state[1]

    @property
    def recipe_folders(self) -> list[tuple[str, Any]]:
        """(plugin, folder) for each folder of recipes a plugin ships."""
        return self._state[2]

    def components(self, kind: str | None = None) -> list[Component]:
        kinds = [kind] if kind else list(self.registries)
        return [c for k in kinds for c in self.registries[k].values()]

    def kind(self, name: str) -> Kind:
        if name not in self.kinds:
            raise GentkError(f"unknown component kind {name!r}", hint=available_hint(self.kinds))
        return self.kinds[name]

    def get(self, kind: str, name: str) -> Component:
        table = self.registries[self.kind(kind).name]
        if name not in table:
            raise GentkError(f"no {kind} named {name!r}", hint=available_hint(table, self))
        return table[name]


def _check_registration(
    kind: Kind, name: Any, factory: Any, config: Any, provides: tuple[Any, ...], requires: tuple[Any, ...] = ()
) -> None:
    what = f"{kind.name} {name!r}"
    if not isinstance(name, str) or not name:
        raise PluginError(f"a {kind.name} was registered with the name {name!r}; names are non-empty strings")
    if not callable(factory):
        raise PluginError(
            f"the factory of {what} is not callable", hint="give a function, a class or lazy('module:Name')"
        )
    if not (isinstance(config, type) and attrs.has(config)):
        raise PluginError(f"the config of {what} is not an attrs class", hint="decorate it with gentk.config.config")
    for protocol in provides:
        if not getattr(protocol, "_is_runtime_protocol", False):
            raise PluginError(f"{what} provides {protocol!r}, which is not a @runtime_checkable Protocol")
    for protocol in requires:
        if not getattr(protocol, "_is_runtime_protocol", False):
            raise PluginError(f"{what} requires {protocol!r}, which is not a @runtime_checkable Protocol")
    if kind.needs_family and not provides:
        raise PluginError(
            f"{what} does not say which family protocol it implements",
            hint="register it with provides=(...), e.g. provides=(AdversarialObjective,) from gentk.families.gan",
        )


def _check_clashes(components: list[Component], tables: dict[str, dict[str, Component]]) -> None:
    seen: dict[tuple[str, str], Component] = {}
    for c in components:
        other = tables.get(c.kind, {}).get(c.name) or seen.get((c.kind, c.name))
        if other is not None:
            raise PluginError(
                f"{c.kind} {c.name!r} is already registered by plugin {other.plugin!r} "
                f"({other.distribution or 'no distribution'})",
                hint=f"uninstall one of them or block it with {BLOCK_ENV}={c.plugin}",
            )
        seen[(c.kind, c.name)] = c


def _hook_name_problems(plugin: Any) -> list[str]:
    """Functions named gentk_* that pluggy will never call: unknown names and unmarked hooks."""
    problems = []
    for attr in dir(plugin):
        if not attr.startswith("gentk_") or not callable(getattr(plugin, attr, None)):
            continue
        if attr not in hookspecs.HOOKS:
            close = difflib.get_close_matches(attr, sorted(hookspecs.HOOKS), n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{attr} is not a gentk hook and is never called{guess}")
        elif not hasattr(getattr(plugin, attr), "gentk_impl"):
            problems.append(f"{attr} is not marked with @hookimpl, so it is never called")
    return problems


def available_hint(names: Iterable[str], plugins: Plugins | None = None) -> str:
    listed = ", ".join(sorted(names)) or "none"
    hint = f"available: {listed}"
    if plugins is not None:
        installed = ", ".join(p.name for p in plugins.info) or "none"
        hint += f" (installed plugins: {installed}; `gentk plugins` shows more)"
    return hint


_default: Plugins | None = None
on_problems: Callable[[list[str]], None] | None = None
"""Called once with `Plugins.problems()` when the process-wide plugins are loaded (the CLI
prints them as warnings)."""


def get_plugins() -> Plugins:
    """The process-wide plugin manager, loaded on first use."""
    global _default
    if _default is None:
        _default = Plugins()
        _default.registries  # noqa: B018  (register now, so registration failures are known)
        if on_problems is not None and _default.problems():
            on_problems(_default.problems())
    return _default


def use_plugins(plugins: Plugins | None) -> Plugins | None:
    """Make `plugins` the process-wide manager (None: load afresh on next use); returns the one it replaces."""
    global _default
    before, _default = _default, plugins
    return before


def reset_plugins() -> None:
    """Forget the loaded plugins (tests; after installing a plugin at run time)."""
    global _default
    _default = None
