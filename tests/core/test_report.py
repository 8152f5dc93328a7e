"""`gentk report RUN`: one self-contained HTML page about a run, checked as text and in a real browser."""

import base64
import errno
import io
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from gentk import report
from gentk.cli import main
from gentk.errors import GentkError
from gentk.rundir import RunDir
from tests.diffusion.diffusion_helpers import TINY_UNET

CLASSES = 3
SECTIONS = ("summary", "samples", "figures", "curves", "tables", "protocols", "recipe", "versions")
CARD = {"metric": "quality", "generated": 200, "extractor": "classifier (64-d penultimate layer)", "steps": 4}


def write_images(root: Path, per_class: int = 6) -> None:
    """A labelled folder of 8x8 images: class k has a bright bar in column 2 + 2k."""
    from PIL import Image

    for label in range(CLASSES):
        (root / str(label)).mkdir(parents=True)
        for i in range(per_class):
            img = torch.zeros(8, 8, dtype=torch.uint8)
            img[:, 2 + 2 * label] = 255 - 10 * i
            Image.fromarray(img.numpy()).save(root / str(label) / f"{i}.png")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A class-conditional DDPM trained two epochs of two steps, sampled after each epoch, each step
    logged, with an evaluation record that carries a protocol card."""
    import gentk.api as gk
    from gentk.recipe import resolve

    root = tmp_path_factory.mktemp("report")
    write_images(root / "images")
    raw = {
        "description": "tiny conditional DDPM",
        "run": {"epochs": 2, "steps_per_epoch": 2, "batch_size": 6, "n_samples": 3, "device": "cpu", "threads": 1},
        "data": {"use": "image_folder", "path": str(root / "images"), "test_fraction": 0.25},
        "model": {
            "use": "ddpm",
            "conditional": True,
            "guidance": 1.0,
            "trajectory_steps": [19, 5, 0],
            "trajectory_samples": 2,
            "denoiser": TINY_UNET,
            "schedule": {"use": "cosine", "num_steps": 20},
            "objective": {"use": "ddpm", "p_uncond": 0.2},
            "sampler": {"use": "ddim", "steps": 3},
        },
    }
    from gentk import engine

    before = torch.get_num_threads()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(engine, "LOG_EVERY", 1)  # step records: the page draws curves from them
            run = gk.train(resolve(raw), out=root / "runs", name="tiny")
    finally:
        torch.set_num_threads(before)
    run.dir.log({"kind": "eval", "metric": "quality", "step": 4, "epoch": 2, "fid": 12.5, "protocol": CARD})
    return run.path


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    """A copy of the trained run that a test may change."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


class Tags(HTMLParser):
    """The start tags of a page with their attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def embedded_pngs(page: str) -> list[tuple[bytes, dict[str, str | None]]]:
    """The decoded bytes of every <img> (which must be a base64 PNG data URI) with its attributes."""
    found = []
    for tag, attrs in tags(page):
        if tag == "img":
            src = attrs.get("src") or ""
            assert src.startswith("data:image/png;base64,"), src[:80]
            found.append((base64.b64decode(src.split(",", 1)[1], validate=True), attrs))
    return found


def test_page_has_every_section_and_the_newest_figures(run_copy):
    """Catches a section left out of the page, or an older epoch's sample grid (or trajectory)
    shown instead of the newest one."""
    page = report.write_report(run_copy).read_text(encoding="utf-8")
    ids = {attrs.get("id") for _, attrs in tags(page)}
    assert set(SECTIONS) <= ids
    pngs = [png for png, _ in embedded_pngs(page)]
    figures = run_copy / "figures"
    assert (figures / "samples_epoch001.png").is_file()  # there is an older grid to pass over
    assert (figures / "samples_epoch002.png").read_bytes() in pngs
    assert (figures / "trajectory_epoch002.png").read_bytes() in pngs
    assert (figures / "samples_epoch001.png").read_bytes() not in pngs
    assert (figures / "trajectory_epoch001.png").read_bytes() not in pngs
    assert 'class="status done"' in page and "tiny conditional DDPM" in page
    assert torch.__version__ in page and "gentk_diffusion.plugin" in page
    assert "use = &quot;ddpm&quot;" in page  # the resolved recipe, escaped
    assert "fid = 12.5" in page and 'id="card-1"' in page and "classifier (64-d penultimate layer)" in page


def test_every_image_is_an_embedded_png_and_nothing_is_fetched(run_copy):
    """Catches images linked by file path instead of embedded, a base64 that does not decode (the
    URL-safe alphabet), a PNG cut short (which browsers show half-drawn without an error), a
    declared size other than the PNG's, and any script or external request."""
    page = report.write_report(run_copy).read_text(encoding="utf-8")
    images = embedded_pngs(page)
    assert len(images) >= 3  # newest samples, trajectory, curves
    for png, attrs in images:
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")  # whole
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (attrs.get("width"), attrs.get("height")) == (str(width), str(height))
    for tag, attrs in tags(page):
        assert tag not in ("script", "link", "iframe", "object", "embed")
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert value.startswith(("data:image/png;base64,", "#")) or name not in attrs, (tag, value[:80])
    assert "default-src 'none'" in page  # the page's policy forbids requests and scripts


def test_fresh_samples_one_column_per_class(run_copy, monkeypatch):
    """Catches the samples drawn now laid out with classes mixed within a column: with fewer
    samples per class than classes, the class-major samples are turned into one column per class."""
    import gentk.api as gk
    from gentk import figures

    drawn, saved = [], []
    sample, save = gk.Run.sample, figures.save_samples

    def recording_sample(self, n, **kwargs):
        out = sample(self, n, **kwargs)
        drawn.append(out.detach().cpu().clone())
        return out

    def recording_save(samples, path, nrow=None, **kwargs):
        saved.append((samples.clone(), nrow, kwargs))
        return save(samples, path, nrow, **kwargs)

    monkeypatch.setattr(gk.Run, "sample", recording_sample)
    monkeypatch.setattr(figures, "save_samples", recording_save)
    page = report.write_report(run_copy, samples=2 * CLASSES).read_text(encoding="utf-8")
    [out] = drawn  # class-major: class 0's two samples, then class 1's, ...
    [(grid, nrow, kwargs)] = [s for s in saved if s[0].dim() == 4]
    assert nrow == CLASSES and kwargs["column_labels"] == tuple(f"class {k}" for k in range(CLASSES))
    for row in range(2):
        for k in range(CLASSES):
            assert torch.equal(grid[row * CLASSES + k], out[k * 2 + row])  # column k holds class k
    assert "samples drawn for this report" in page and "one column per class" in page
    assert "sampler ddim, " in page and ", steps 3, " in page


HOSTILE = '</pre><script>alert("x")</script>'


def test_hostile_strings_are_escaped(run_copy, tmp_path):
    """Catches a run name, recipe value, figure file name, metric name or protocol card field written
    into the page unescaped (markup or a script injected into the report)."""
    hostile_dir = tmp_path / "<img src=x onerror=alert(1)>"
    run_copy.rename(hostile_dir)
    recipe = hostile_dir / "recipe.toml"
    text = recipe.read_text()
    recipe.write_text(text.replace('description = "tiny conditional DDPM"', f"description = '{HOSTILE}'"))
    assert HOSTILE in recipe.read_text()
    shutil.copy(hostile_dir / "figures" / "trajectory_epoch002.png", hostile_dir / "figures" / "<b>_epoch002.png")
    RunDir(hostile_dir).log(
        {"kind": "eval", "metric": "<script>m</script>", "step": 4, "<i>figure</i>": 1.0, "protocol": {"<u>k": "<s>v"}}
    )
    page = report.write_report(hostile_dir).read_text(encoding="utf-8")
    assert not re.search(r"<script|<img src=x|<b>|<i>|<u>|<s>", page, re.IGNORECASE)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert "&lt;script&gt;m&lt;/script&gt;" in page and "&lt;u&gt;k" in page and "&lt;b&gt;" in page


def test_writing_is_atomic(run_copy, monkeypatch):
    """Catches the page written in place: a write that fails (a full disk) must leave the previous
    report whole and no temporary file behind."""
    target = run_copy / "report.html"
    target.write_text("previous report")
    replace = os.replace

    def full(src, dst, *args, **kwargs):  # the disk fills up as the new page is finished
        if Path(dst) == target:
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GentkError, match="disk full"):
        report.write_report(run_copy)
    assert target.read_text() == "previous report"
    assert sorted(p.name for p in run_copy.iterdir() if p.name.startswith(".")) == []


def test_cli_writes_where_asked_and_refuses_a_folder_that_is_not_a_run(run_copy, tmp_path, capsys):
    """Catches `--out` ignored (the page written into the run instead), and a folder that is not a
    run directory reported as a crash instead of the usual error."""
    out = tmp_path / "pages" / "page.html"
    with pytest.raises(SystemExit) as done:
        main(["report", str(run_copy), "--out", str(out), "--quiet"])
    assert done.value.code in (None, 0)
    assert out.is_file() and not (run_copy / "report.html").exists()
    assert "wrote" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit) as failed:
        main(["report", str(empty)])
    assert failed.value.code == 2 and "is not a run directory" in capsys.readouterr().err


def test_a_run_with_only_its_recipe_still_gets_a_page(run_copy, tmp_path):
    """Catches a crash on a run that has not finished an epoch (no metrics, figures, status or
    versions yet): the page says what is missing instead."""
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_copy / "recipe.toml", bare / "recipe.toml")
    page = report.write_report(bare).read_text(encoding="utf-8")
    assert "no samples yet" in page and "no epoch finished yet" in page and "plugins.json is missing" in page
    assert embedded_pngs(page) == []


PROBE = """<script>
addEventListener("load", () => {
  const seen = [...document.images].map(i => `${i.complete}:${i.naturalWidth}x${i.naturalHeight}`);
  const out = document.createElement("pre"); out.id = "probe"; out.textContent = seen.join(" ");
  document.body.append(out);
});
</script>"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [
        shutil.which("chromium") or "chromium",
        "--headless=new",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
        "--run-all-compositor-stages-before-draw",
        "--virtual-time-budget=2000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (Debian package chromium) on PATH")
def test_page_renders_in_headless_chromium(run_copy, tmp_path):
    """Catches a page a browser cannot show: images that fail to decode or are blocked by the
    page's own policy, console errors, or a blank render."""
    from PIL import Image

    page = report.write_report(run_copy)
    expected = []
    for png, _ in embedded_pngs(page.read_text(encoding="utf-8")):
        expected.append(f"true:{int.from_bytes(png[16:20], 'big')}x{int.from_bytes(png[20:24], 'big')}")
    shot = tmp_path / "shot.png"
    shown = chromium(f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri(), profile=tmp_path / "p1")
    assert shot.is_file(), shown.stderr[-2000:]
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console  # the page logs nothing: no script errors, no blocked requests
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, figures and tables, not an empty page
    # the same page with a probe that reads each image's decoded size once the page has loaded
    text = page.read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(
        text.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';").replace(
            "</body>", PROBE + "</body>"
        ),
        encoding="utf-8",
    )
    dumped = chromium("--dump-dom", probed.as_uri(), profile=tmp_path / "p2")
    match = re.search(r'<pre id="probe">([^<]*)</pre>', dumped.stdout)
    assert match, dumped.stderr[-2000:]
    assert match.group(1).split() == expected  # every image loaded, at the size of its PNG


def test_png_size_reads_the_header_and_rejects_other_files():
    """Catches a width/height swap in the header reader (the img tags would declare the wrong size)
    and a non-PNG file taken for a figure."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (7, 3)).save(buffer, format="png")
    assert report.png_size(buffer.getvalue()) == (7, 3)
    assert report.png_size(b"GIF89a" + bytes(30)) is None
    assert report.png_size(b"\x89PNG\r\n\x1a\n") is None


def test_cards_that_differ_are_flagged(run_copy):
    """Catches protocol cards shown side by side without saying which of their fields differ (their
    figures would be compared across protocols), or cards of two metrics flagged for naming them."""
    other = {**CARD, "metric": "fid", "steps": 8}
    RunDir(run_copy).log({"kind": "eval", "metric": "fid", "step": 4, "epoch": 2, "fid": 9.0, "protocol": other})
    page = report.write_report(run_copy).read_text(encoding="utf-8")
    assert 'differ in <span class="differs">steps</span>' in page
    flagged = re.findall(r'<tr class="differs"><th>([^<]*)</th>', page)
    assert flagged == ["steps", "steps"]  # the row of each card; the metric's name is not a difference
