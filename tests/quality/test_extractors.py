"""The feature extractors: inception (with random weights written by the test; downloads faked) and the
classifier (the small CNN trained on the run's data)."""

import urllib.error

import pytest
import torch

from gentk.errors import GentkError
from gentk.interfaces import Split
from gentk.quality import weights_hash
from gentk.recipe import resolve_component
from tests.quality.inception import LIVELY, random_inception_weights
from tests.quality.synthetic import INFO, as_float, labelled

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"


def inception(**cfg):
    return resolve_component("feature_extractor", {"use": "inception", **cfg}).build()


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float rounding (a different batch size may change the order of sums)."""
    return bool((a - b).abs().max() <= 1e-5 * b.abs().max())


# -- inception ------------------------------------------------------------------------------------
def no_network(*args, **kwargs):
    raise AssertionError("download attempted")


@pytest.fixture(scope="module")
def grey_images():
    """8x8 grey images on the uint8 grid with pure black and white pixels: a; a with its inner pixels
    jittered by less than half a grey level (+-0.3/255), its white pixels pushed above 1 and its black ones
    below 0 (the same image after clipping and rounding); a lifted by one grey level on a 3x3 patch."""
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(1, 254, (1, 8, 8), generator=g)
    levels[:, 0, :4], levels[:, 0, 4:] = 0, 255
    a = levels.float() / 255
    sign = torch.randint(2, a.shape, generator=g) * 2 - 1
    same = a + sign * 0.3 / 255
    same[a == 1], same[a == 0] = 1.3, -0.2
    lifted = a.clone()
    lifted[:, 3:6, 3:6] += 1 / 255
    return torch.stack([a, same, lifted])


@pytest.fixture(scope="module")
def inception_run(tmp_path_factory, grey_images):
    """The extractor (random weights) and its features of the grey images in one batch, and of the first
    image repeated to RGB alone."""
    weights = random_inception_weights(tmp_path_factory.mktemp("inception"), gain=LIVELY)
    extractor = inception(weights_path=str(weights), download=False)
    grey = extractor.features(grey_images)
    rgb = extractor.features(grey_images[:1].expand(-1, 3, -1, -1))
    return extractor, grey, rgb


def test_inception_gives_2048_features_per_image_and_names_its_weights(inception_run):
    """Catches another layer's features (the logits, a 768-d mixed layer) or a card that does not hash the
    weights actually loaded: (N, 2048) finite features that tell two images apart, and the card's hash is
    that of the network."""
    extractor, grey, _ = inception_run
    assert grey.shape == (3, 2048) and grey.dtype == torch.float32 and torch.isfinite(grey).all()
    assert not close(grey[0], grey[2])
    card = extractor.card()
    assert card["weights_sha256"] == weights_hash(extractor.net) and card["extractor"].startswith("inception-v3")
    assert card["resize"].startswith("299x299") and "uint8" in card["input"]


def test_inception_repeats_grey_images_to_rgb(inception_run):
    """Catches grey images put into one channel of three (the others black) or sent as one channel: a grey
    image gives the features of the same image repeated to RGB (there alone in its batch, here with two
    others, which also shows the features do not depend on the batch)."""
    _, grey, rgb = inception_run
    assert close(rgb[0], grey[0])


def test_inception_quantises_to_uint8_by_rounding_and_clips(inception_run):
    """Catches truncation instead of rounding (x * 255 cast straight to uint8), no clipping (values above 1
    wrap around in uint8) and quantisation coarser than a grey level: images equal after rounding to
    uint8 have equal features, and one grey level more on a patch changes them."""
    _, grey, _ = inception_run
    assert close(grey[1], grey[0])  # within +-0.3 of a grey level, and beyond [0, 1] where a is 0 or 1
    assert not close(grey[2], grey[0])  # one grey level more on 9 pixels


def test_a_missing_weights_path_is_an_error_naming_the_file(tmp_path, monkeypatch):
    """Catches a missing weights file failing inside torch (a bare FileNotFoundError) or, worse, silently
    falling back to a download: the error names the path and the hint the file to put there."""
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    missing = tmp_path / "nowhere" / "inception.pth"
    with pytest.raises(GentkError, match="does not exist") as err:
        inception(weights_path=str(missing)).card()
    assert str(missing) in err.value.message and INCEPTION_FILE in err.value.hint


def test_no_download_without_a_cached_file_is_an_error_naming_file_and_folder(private_cache, monkeypatch):
    """Catches download = false being ignored (a network call) or an error that does not say where the
    file must go: it names the cache folder ($GENTK_CACHE/weights) and the file's name."""
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(GentkError, match="download = false") as err:
        inception(download=False).card()
    folder = str(private_cache / "weights")
    assert folder in err.value.message and INCEPTION_FILE in err.value.hint and folder in err.value.hint
    assert "weights_path" in err.value.hint


def test_a_failed_download_leaves_no_file_and_says_how_to_work_offline(private_cache, monkeypatch):
    """Catches a half-written download left where the weights belong (the next run would load a truncated
    file) or an offline failure with a raw urllib traceback: the error says where to put which file, and
    the folder holds nothing afterwards. Also catches the download losing its hash check."""
    calls = []

    def offline(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        with open(dst, "wb") as f:
            f.write(b"half a file")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(GentkError, match="could not download") as err:
        inception().card()
    [(url, hash_prefix)] = calls
    assert url.endswith("/" + INCEPTION_FILE) and hash_prefix == "6726825d"
    folder = private_cache / "weights"
    assert str(folder) in err.value.hint and INCEPTION_FILE in err.value.hint and "weights_path" in err.value.hint
    assert list(folder.iterdir()) == []


def test_a_download_lands_in_the_cache_once(private_cache, monkeypatch):
    """Catches the file downloaded again on every use, or kept under its temporary name: after one (faked)
    download the weights sit in $GENTK_CACHE/weights under their published name, alone."""
    calls = []

    def fake(url, dst, hash_prefix=None, progress=True):
        calls.append(dst)
        with open(dst, "wb") as f:
            f.write(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake)
    first = inception().weights_file()
    assert first == private_cache / "weights" / INCEPTION_FILE and first.read_bytes() == b"weights"
    assert inception().weights_file() == first and len(calls) == 1
    assert list(first.parent.iterdir()) == [first]


# -- classifier -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_split():
    return Split(*labelled(200, seed=1))


def classifier():
    return resolve_component("feature_extractor", {"use": "classifier", "steps": 20}).build()


def test_classifier_features_are_64_per_image_whatever_the_batch(train_split, one_thread):
    """Catches the penultimate layer read in training mode (dropout on: features change from call to call
    and with the batch) or another layer: (N, 64) non-negative features (after the ReLU), the same image by
    image as all at once."""
    extractor = classifier()
    extractor.fit(train_split, INFO)
    images = as_float(labelled(12, seed=2)[0])
    features = extractor.features(images)
    assert features.shape == (12, 64) and (features >= 0).all() and features.abs().sum() > 0
    one_by_one = torch.cat([extractor.features(image[None]) for image in images])
    assert close(one_by_one, features)
    card = extractor.card()
    assert card["extractor"].startswith("classifier") and len(card["weights_sha256"]) == 16
    assert card["trained_on"].endswith("(200 images)")


def test_the_classifier_is_trained_once_and_reused(train_split, monkeypatch, one_thread):
    """Catches the classifier retrained for each evaluation (minutes per figure on real data) or a cache
    that returns other weights: a second extractor on the same split loads it (training is forbidden
    here) and has the same weights hash and features."""
    first = classifier()
    first.fit(train_split, INFO)
    images = as_float(labelled(6, seed=3)[0])
    features, card = first.features(images), first.card()

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr("gentk_common.classifier.train_classifier", no_training)
    second = classifier()
    second.fit(train_split, INFO)
    assert second.card()["weights_sha256"] == card["weights_sha256"]
    assert torch.equal(second.features(images), features)


def test_the_classifier_extractor_must_be_fitted_first():
    """Catches an unfitted classifier extractor returning features of an untrained network (figures that
    look plausible and mean nothing): it is an error with a hint."""
    with pytest.raises(GentkError, match="has not seen the training split") as err:
        classifier().features(torch.rand(2, *INFO.shape))
    assert "gentk eval" in err.value.hint


def test_classifier_features_have_unit_rms_on_the_training_split(train_split, one_thread):
    """Catches the classifier's raw penultimate activations (norms near 35 on digits) reaching KID, whose
    kernel (x.y / 64 + 1)^3 then ranks sample sets by feature norm rather than by distribution: the features
    of the training images that set the scale have a root mean square of 1, and the card says so."""
    extractor = classifier()
    extractor.fit(train_split, INFO)
    features = extractor.features(as_float(train_split.x[:2000]))
    assert abs(float(features.double().pow(2).mean().sqrt()) - 1.0) < 1e-5
    assert "unit RMS" in extractor.card()["scale"]
