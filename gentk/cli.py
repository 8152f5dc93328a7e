"""The `gentk` command line (typer + rich). Heavy modules are imported inside the commands."""

from __future__ import annotations

import errno
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    name="gentk",
    help="Train, sample and evaluate generative models (VAEs, GANs, diffusion) from TOML recipes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_state = {"debug": False}

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe value: path.to.key=value (value parsed as TOML)."),
]
RecipeArg = Annotated[
    Path,
    typer.Argument(
        help="A recipe: its name (vae_toy, or PLUGIN:NAME; see `gentk recipes`) or a TOML file.", show_default=False
    ),
]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads for torch.", min=1)]
CheckpointOption = Annotated[
    str | None,
    typer.Option("--checkpoint", help="A checkpoint of the run (best.pt, checkpoint-<step>.pt); default: the newest."),
]
RunArg = Annotated[Path, typer.Argument(help="A run directory written by `gentk run`.", show_default=False)]


def _console():
    from rich.console import Console

    return Console()


def escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _version(value: bool) -> None:
    if value:
        from gentk import __version__

        typer.echo(f"gentk {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for errors (anywhere on the line).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = _state["debug"] or debug
    from gentk import registry
    from gentk.progress import set_interactive

    set_interactive(True)
    if ctx.invoked_subcommand != "plugins":  # which lists them itself
        registry.on_problems = _warn_plugin_problems


def _warn_plugin_problems(lines: list[str]) -> None:
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    for line in lines:
        console.print(f"[yellow]warning:[/yellow] {escape_markup(line)}")


@app.command()
def run(
    recipe: Annotated[
        Path | None,
        typer.Argument(
            help="A recipe: its name (vae_toy, or PLUGIN:NAME; see `gentk recipes`) or a TOML file "
            "(omit with --resume).",
            show_default=False,
        ),
    ] = None,
    set_: SetOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder that holds run directories.")] = Path("runs"),
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Continue this run directory from its checkpoint.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    nproc: Annotated[
        int, typer.Option("--nproc", help="Data-parallel processes on this machine (launches torchrun).", min=1)
    ] = 1,
) -> None:
    """Train a recipe; writes a run directory with metrics, figures and checkpoints."""
    from gentk import api

    if resume is not None and recipe is not None:
        raise _usage(
            "give a recipe to start a new run, or --resume RUN to continue one, not both "
            "(a resumed run keeps the recipe in its directory; change values with --set)"
        )
    if nproc > 1:
        from gentk.distributed import launch

        args = ["run", "--out", str(out), *([str(recipe)] if recipe is not None else [])]
        args += [*(["--resume", str(resume)] if resume is not None else []), *(["--quiet"] if quiet else [])]
        code = launch(nproc, args + [f"--set={item}" for item in set_ or []])
        if code:
            sys.exit(code)
        return
    if resume is not None:
        result = api.resume(resume, overrides=set_ or [], progress=not quiet)
    elif recipe is not None:
        result = api.train(recipe, overrides=set_ or [], out=out, progress=not quiet)
    else:
        raise _usage("give a recipe to run, or --resume RUN")
    _console().print(f"[green]done:[/green] {result.path}")


@app.command()
def check(recipe: RecipeArg, set_: SetOption = None) -> None:
    """Validate a recipe (every component, key and value) without training."""
    from gentk.catalog import find_recipe
    from gentk.recipe import load_recipe

    resolved = load_recipe(find_recipe(recipe), set_ or [])
    _console().print(f"[green]ok:[/green] {recipe} (model {resolved.model.name!r}, data {resolved.data.name!r})")


@app.command()
def show(recipe: RecipeArg, set_: SetOption = None) -> None:
    """Print the fully resolved recipe, every default written out."""
    from gentk.catalog import find_recipe
    from gentk.recipe import dumps, load_recipe

    typer.echo(dumps(load_recipe(find_recipe(recipe), set_ or [])), nl=False)


@app.command()
def recipes() -> None:
    """List the bundled recipes and those plugins ship; `gentk run NAME` runs one."""
    from rich.markup import escape
    from rich.table import Table

    from gentk.catalog import recipes as catalog

    table = Table(title="gentk recipes", caption="run one with `gentk run NAME`; PLUGIN:NAME picks a plugin's")
    for column in ("name", "plugin", "description"):
        table.add_column(column)
    for entry in catalog():
        table.add_row(escape(entry.ref), escape(entry.plugin), escape(entry.description) or "-")
    _console().print(table)


@app.command()
def plugins() -> None:
    """List installed plugins, their distributions, versions and components; exits 1 when a plugin failed."""
    from rich.table import Table

    from gentk.registry import get_plugins

    loaded = get_plugins()
    table = Table(title="gentk plugins")
    for column in ("plugin", "distribution", "version", "components"):
        table.add_column(column)
    for info in loaded.info:
        names = [f"{c.kind}:{c.name}" for c in loaded.components() if c.plugin == info.name]
        table.add_row(info.name, info.distribution or "-", info.version or "-", ", ".join(names) or "-")
    for failure in loaded.failures:
        table.add_row(failure.name, failure.distribution or "-", "-", f"[red]failed to {failure.stage}[/red]")
    console = _console()
    console.print(table)
    for line in loaded.problems():
        console.print(f"[yellow]warning:[/yellow] {escape_markup(line)}", soft_wrap=True)
    if loaded.failures:
        raise typer.Exit(1)


@app.command("new-plugin")
def new_plugin(
    name: Annotated[
        str,
        typer.Argument(
            help="The plugin's name: lower-case letters, digits and underscores "
            "(my_flows writes gentk-my-flows/ with the module gentk_my_flows).",
            show_default=False,
        ),
    ],
    dest: Annotated[Path, typer.Option("--dest", help="Folder to write the package in.")] = Path("."),
) -> None:
    """Write a working plugin package (one model, one recipe, tests using gentk.testing) to start from."""
    from gentk.scaffold import new_plugin as write_plugin

    root = write_plugin(name, dest)
    _console().print(f"[green]wrote[/green] {root}; test it with: cd {root} && python -m pytest")


@app.command()
def kinds() -> None:
    """List the component kinds: their protocol, factory signature and the plugin that declares them."""
    from rich.table import Table

    from gentk.kinds import protocol_name
    from gentk.registry import get_plugins

    table = Table()
    for column in ("kind", "protocol", "factory", "declared by", "doc"):
        table.add_column(column)
    for k in get_plugins().kinds.values():
        row = (k.name, protocol_name(k.protocol), k.factory, k.plugin, k.doc)
        table.add_row(*(escape_markup(cell) for cell in row))
    _console().print(table)


@app.command()
def components(
    kind: Annotated[str | None, typer.Argument(help="Only this kind (see `gentk kinds`).")] = None,
) -> None:
    """List registered components, optionally of one kind."""
    from rich.table import Table

    from gentk.registry import get_plugins

    plugins_ = get_plugins()
    if kind is not None:
        plugins_.kind(kind)  # an unknown kind is an error listing the kinds
    table = Table()
    for column in ("kind", "name", "plugin", "summary"):
        table.add_column(column)
    for c in sorted(plugins_.components(kind), key=lambda c: (c.kind, c.name)):
        table.add_row(c.kind, c.name, c.plugin, escape_markup(c.summary))
    _console().print(table)


@app.command()
def describe(
    name: Annotated[
        str,
        typer.Argument(
            help="A component name, e.g. mlp_gaussian, or a part of a recipe: recipe, run, data, model, metrics.",
            show_default=False,
        ),
    ],
    kind: Annotated[str | None, typer.Option("--kind", "-k", help="Its kind, where a name is used by several.")] = None,
) -> None:
    """Describe one component (its plugin, factory, protocols, fields, types, defaults and docs) or a
    part of a recipe (`describe run` lists the [run] keys; data, model, metrics the components that fit)."""
    from rich.table import Table

    from gentk.describe import RECIPE_PARTS, component_fields, component_header, describe_part, find_component

    console = _console()
    if kind is None and name in RECIPE_PARTS:
        part = describe_part(name)
        for line in part.lines:
            console.print(escape_markup(line))
        table = Table()
        for column in part.columns:
            table.add_column(column)
        for row in part.rows:
            table.add_row(*(escape_markup(cell) for cell in row))
        console.print(table)
        return
    component = find_component(name, kind)
    for line in component_header(component):
        console.print(escape_markup(line))
    table = Table()
    for column in ("key", "type", "default", "doc"):
        table.add_column(column)
    for row in component_fields(component.config):
        table.add_row(*(escape_markup(cell) for cell in row))  # types such as list[int] are not markup
    console.print(table)


@app.command()
def sample(
    run_dir: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="A .png grid, or .pt for the tensor of samples in [0, 1].")],
    n: Annotated[int, typer.Option("--n", help="Number of samples.", min=1)] = 64,
    label: Annotated[int | None, typer.Option("--class", help="Class label, for conditional models.")] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            "--guidance",
            help="Classifier-free guidance strength w >= 0: eps~ = (1 + w) eps(x, c) - w eps(x), which is "
            "diffusers' guidance_scale s = w + 1 (w = 0: the conditional model). Needs a conditional model "
            "trained with label dropout (objective.p_uncond > 0).",
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option(
            "--sampler", help="Sampler name (ancestral, ddim, ddpm_langevin, euler, euler_ancestral, heun, dpmpp_2m)."
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Sampler steps.", min=1)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    threads: ThreadsOption = None,
    checkpoint: CheckpointOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Draw samples from a trained run into an image grid or a tensor file."""
    import torch

    from gentk import api
    from gentk.progress import showing

    _set_threads(threads)
    run_ = api.open_run(run_dir, device, checkpoint)
    options = {k: v for k, v in {"sampler": sampler, "steps": steps, "guidance": guidance}.items() if v is not None}
    with showing(not quiet):
        labels = None if label is None else torch.full((n,), label, dtype=torch.long, device=run_.model.device)
        written = run_.save_samples(n, out, seed=seed, labels=labels, **options)
    _console().print(f"[green]wrote[/green] {written}")


@app.command("eval")
def evaluate(
    run_dir: RunArg,
    metric: Annotated[str, typer.Option("--metric", "-m", help="A metric component, e.g. nll, vlb, coverage.")],
    set_: SetOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    threads: ThreadsOption = None,
    checkpoint: CheckpointOption = None,
    recipe_set: Annotated[
        list[str] | None,
        typer.Option(
            "--recipe-set",
            help="Change the run's recipe for this evaluation, e.g. model.sampler.steps=20 (repeatable).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Evaluate a trained run on its held-out data with a metric (`--set key=value` configures it, e.g.
    --set n_samples=1000 --set extractor.use=inception). Sample-quality metrics (fid, kid,
    precision_recall, quality) print their protocol card."""
    from gentk import api
    from gentk.progress import showing
    from gentk.recipe import component_settings

    _set_threads(threads)
    config = component_settings(set_ or [])
    with showing(not quiet):
        result = api.open_run(run_dir, device, checkpoint, overrides=recipe_set or []).evaluate(
            metric, seed=seed, **config
        )
    console = _console()
    card = result.pop("protocol", None)
    for key, value in result.items():
        console.print(f"{metric}/{key} = {value:.6g}" if isinstance(value, float) else f"{metric}/{key} = {value}")
    if isinstance(card, dict):
        console.print(protocol_table(card))


@app.command()
def report(
    run_dir: RunArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The HTML file to write; default: RUN/report.html.")
    ] = None,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            help="Draw this many samples now and show them first (a conditional model spreads them over its "
            "classes, one row or column per class); 0: show only the figures the training drew.",
            min=0,
        ),
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the samples drawn now.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    threads: ThreadsOption = None,
    checkpoint: CheckpointOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Write one self-contained HTML page about a run: status, samples (per class where conditional),
    reconstructions and trajectories, loss and metric curves, figures by epoch, evaluations with
    their protocol cards, the resolved recipe and the versions that built it. Images are embedded:
    the page makes no request and runs no script."""
    from gentk.progress import showing
    from gentk.report import write_report

    _set_threads(threads)
    with showing(not quiet):
        written = write_report(run_dir, out, samples=samples, seed=seed, device=device, checkpoint=checkpoint)
    _console().print(f"[green]wrote[/green] {escape_markup(str(written))}")


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run directories written by `gentk run`.", metavar="RUN", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the table to a .md (with the cards) or .csv file.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the runs' loss and metric curves, overlaid, into this PNG.")
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="Evaluate each diffusion run at each value of a key of its model, e.g. sampler.steps=10,20,50 or "
            "sampler.use=ddim,dpmpp_2m, logging the figures as `gentk eval` does; prints them instead of the latest.",
        ),
    ] = None,
    sweep_plot: Annotated[
        Path | None, typer.Option("--sweep-plot", help="The PNG of the sweep; default: FIRST_RUN/sweep_KEY.png.")
    ] = None,
    metric: Annotated[str, typer.Option("--metric", "-m", help="The metric evaluated by --sweep.")] = "quality",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Configure the --sweep metric: key=value, e.g. n_samples=1000 (repeatable)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the --sweep evaluations.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    threads: ThreadsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Compare runs: one table of their latest figures across families, with the protocol cards of
    sample-quality figures (a warning where they differ), overlaid curves (--plot), and figures against a
    diffusion sampling setting (--sweep)."""
    from gentk.compare import compare_command
    from gentk.progress import showing

    _set_threads(threads)
    with showing(not quiet):
        compare_command(
            run_dirs,
            out=out,
            plot=plot,
            sweep_spec=sweep,
            sweep_plot=sweep_plot,
            metric=metric,
            settings=set_ or [],
            seed=seed,
            device=device,
            console=_console(),
        )


@app.command()
def runs(
    folder: Annotated[Path, typer.Argument(help="A folder of run directories.")] = Path("runs"),
) -> None:
    """List the runs in a folder: status (running, interrupted, failed, done, stopped), epoch, step and
    the latest epoch's figures."""
    from rich.table import Table

    from gentk.runs import list_runs

    found = list_runs(folder)
    table = Table(title=f"runs in {escape_markup(str(folder))}", caption=None if found else "no runs")
    for column in ("run", "status", "epoch", "step", "latest figures", "updated"):
        table.add_column(column)
    colors = {"done": "green", "running": "cyan", "interrupted": "yellow", "failed": "red", "stopped": "red"}
    for r in found:
        color = colors.get(r.status, "white")
        table.add_row(
            escape_markup(r.name),
            f"[{color}]{escape_markup(r.status)}[/{color}]",
            r.epoch_text,
            str(r.step) if r.step is not None else "-",
            escape_markup(r.figures_text) or "-",
            escape_markup(r.updated) or "-",
        )
    _console().print(table)


def protocol_table(card: dict[str, Any]):
    """A protocol card as a two-column rich table."""
    from rich.table import Table

    table = Table(title="protocol", show_header=False)
    for key, value in card.items():
        table.add_row(escape_markup(str(key)), escape_markup(str(value)))
    return table


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _usage(message: str):
    from gentk.errors import GentkError

    return GentkError(message, hint="see `gentk run --help`")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are printed without a traceback (unless --debug). Usage errors
    and --help are handled by typer, which exits through SystemExit."""
    from gentk.errors import GentkError, Interrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = "--debug" in argv  # accepted in any position, not only before the command
    argv = [a for a in argv if a != "--debug"]
    import warnings

    from gentk.errors import GentkWarning

    warnings.showwarning = _show_warning
    warnings.simplefilter("always", GentkWarning)
    try:
        app(args=argv)
    except Interrupted as exc:
        import os
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the checkpoint is saved: no traceback from here
        if os.environ.get("RANK", "0") == "0":  # under torchrun, the first process speaks for all
            _report(str(exc), color="yellow")
        sys.exit(exc.exit_code)
    except GentkError as exc:
        _report(exc.render())
        sys.exit(2)
    except KeyboardInterrupt:
        _report("interrupted")
        sys.exit(130)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            _unexpected(exc)
        from gentk.rundir import write_error

        _report(write_error(exc, Path(str(exc.filename or "a file"))).render())
        sys.exit(2)
    except Exception as exc:
        _unexpected(exc)


def _unexpected(exc: Exception) -> NoReturn:
    """Report an error nobody anticipated, with the way to see its traceback, and exit 1."""
    _report(f"unexpected error: {type(exc).__name__}: {exc}\n  run again with --debug for the traceback")
    sys.exit(1)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """GentkWarnings as `warning: ...` lines; others as Python shows them."""
    from gentk.errors import GentkWarning

    if not issubclass(category, GentkWarning):
        import warnings

        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
        return
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]warning:[/bold yellow] {escape_markup(str(message))}")


def _report(message: str, color: str = "red") -> None:
    if _state["debug"]:
        traceback.print_exc()
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(
        f"[bold {color}]error:[/bold {color}] {escape(message)}"
        if color == "red"
        else f"[{color}]{escape(message)}[/{color}]"
    )
