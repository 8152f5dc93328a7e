"""`gentk eval RUN -m quality` end to end: a tiny VAE trained on a folder of stroke images the test writes."""

import math

import pytest
from PIL import Image

from gentk.cli import main
from gentk.rundir import RunDir
from gentk.testing import train_recipe
from tests.quality.synthetic import CLASSES, labelled


def stroke_folder(root):
    """120 stroke images (16x16 PNG), one subfolder per class."""
    x, y = labelled(120, seed=0)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0].numpy()).save(folder / f"{i}.png")
    return root


@pytest.fixture
def vae_run(tmp_path):
    recipe = {
        "data": {"use": "image_folder", "path": str(stroke_folder(tmp_path / "strokes")), "test_fraction": 0.25},
        "model": {
            "use": "vae",
            "encoder": {"use": "mlp_gaussian", "latent_dim": 2, "hidden": [16]},
            "decoder": {"use": "mlp_gaussian", "hidden": [16]},
        },
    }
    return train_recipe(recipe, tmp_path=tmp_path, steps=2)


def test_eval_quality_prints_figures_and_card_and_logs_them(vae_run, capsys, monkeypatch):
    """Catches the CLI dropping the protocol card (figures printed or logged without saying how they were
    measured), nested --set keys (extractor.steps) not reaching the extractor, and the eval record missing
    its figures or the run facts (seed, step, checkpoint, precision); a recipe change that does not touch
    sampling (run.n_samples) is no part of the protocol."""
    monkeypatch.setenv("COLUMNS", "200")
    settings = ["n_samples=40", "n_reference=500", "kid_subsets=5", "kid_subset_size=20", "block=20"]
    settings.append("extractor.steps=20")  # a nested key
    argv = ["eval", str(vae_run), "-m", "quality", "--seed", "3", "--device", "cpu", "--quiet", "--threads", "1"]
    argv += [arg for item in settings for arg in ("--set", item)] + ["--recipe-set", "run.n_samples=4"]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    for figure in ("fid", "kid", "kid_std", "precision", "recall"):
        assert f"quality/{figure} = " in out, out
    for field in ("protocol", "weights_sha256", "reference_split", "classifier", "VAE"):
        assert field in out, out
    [record] = [r for r in RunDir(vae_run).metrics() if r.get("kind") == "eval"]
    assert record["metric"] == "quality" and record["step"] == 2
    assert all(math.isfinite(record[k]) for k in ("fid", "kid", "kid_std", "precision", "recall"))
    card = record["protocol"]
    assert card["metric"] == "quality" and card["generated"] == 40 and card["block"] == 20
    assert card["reference"] == 30 and card["reference_split"] == "test"  # the 30 test images of 120
    assert card["kid_subset_size"] == 20 and card["seed"] == 3 and card["step"] == 2
    assert card["checkpoint"] == "newest" and card["run_precision"] and "run.n_samples" not in card
    assert card["trained_on"].endswith(f"({120 - 30} images)") and CLASSES == 4
