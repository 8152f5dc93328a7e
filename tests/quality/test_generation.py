"""The machinery of the sample-quality metrics (gentk.quality and SampleQuality.evaluate): seed-blocked
generation over processes, cached reference features and the protocol card."""

import math

import pytest
import torch

import gentk.quality as quality
from gentk.errors import GentkError
from gentk.interfaces import DataInfo, Split
from gentk.recipe import resolve_component
from gentk_common.classifier import get_classifier
from tests.quality.synthetic import CLASSES, INFO, RandomConvFeatures, as_float, labelled, strokes

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors


class StrokeModel:
    """A stand-in Model that samples stroke images of random classes from the generator it is given."""

    device = torch.device("cpu")
    grid_columns = None

    def __init__(self):
        self.drawn = 0

    def networks(self):
        return {}

    def optimizers(self):
        return {}

    def train_step(self, batch, ctx):
        return {"loss": 0.0}

    def sample(self, n, *, generator, labels=None, **options):
        unknown = set(options) - {"steps"}
        if unknown:
            raise GentkError(f"unknown sampling options {sorted(unknown)}")
        self.drawn += n
        return as_float(strokes(torch.randint(CLASSES, (n,), generator=generator), generator))


class DescribedModel(StrokeModel):
    """Says how it samples (DescribesSampling), as the diffusion models do."""

    def sampling_settings(self, **options):
        return {"sampler": "ddim", "steps": options.get("steps", 50), "guidance": 0.0}


class BalancedModel(StrokeModel):
    """Class-conditional: draws the same number of each class, so it rounds a block down."""

    def sample(self, n, *, generator, labels=None, **options):
        return super().sample(n // CLASSES * CLASSES, generator=generator)


def generate(model, extractor, n=10, *, seed=7, block=3, info=INFO):
    g = torch.Generator().manual_seed(seed)
    return quality.generated_features(model, extractor, n, info, generator=g, block=block, options={})


class Gathered(Exception):
    """Stops a simulated process at its all_gather_object."""


def as_processes(monkeypatch, size: int, **kwargs) -> tuple[list[torch.Tensor], list[int]]:
    """generated_features run as each of `size` processes; returns every process's features and how
    many images each drew. First each process runs up to the gather (its own blocks are recorded), then
    again with the gather answered by every process's blocks, as torch.distributed would."""
    shards: dict[int, dict] = {}
    rank = [0]
    monkeypatch.setattr(quality, "_world", lambda: (rank[0], size))

    def record(out, mine):
        shards[rank[0]] = mine
        raise Gathered

    def gather(out, mine):
        assert mine.keys() == shards[rank[0]].keys()
        out[:] = [shards[r] for r in range(size)]

    monkeypatch.setattr(quality.dist, "all_gather_object", record)
    for rank[0] in range(size):
        with pytest.raises(Gathered):
            generate(StrokeModel(), RandomConvFeatures(), **kwargs)
    monkeypatch.setattr(quality.dist, "all_gather_object", gather)
    results, drawn = [], []
    for rank[0] in range(size):
        model = StrokeModel()
        results.append(generate(model, RandomConvFeatures(), **kwargs))
        drawn.append(model.drawn)
    return results, drawn


# -- generated images ---------------------------------------------------------------------------
def test_generated_features_do_not_depend_on_the_number_of_processes(monkeypatch):
    """Catches blocks seeded by process rank (or by position within a process) rather than by block index,
    features gathered in process order rather than block order, processes drawing other processes'
    blocks, and a short last block drawn whole: 10 images in blocks of 3 give the same features on 1, 2,
    3 or 5 processes (one process then has nothing to draw)."""
    single_model = StrokeModel()
    single = generate(single_model, RandomConvFeatures())
    assert single.shape == (10, 64) and single_model.drawn == 10
    for size in (2, 3, 5):
        results, drawn = as_processes(monkeypatch, size)
        assert sum(drawn) == 10, (size, drawn)  # each block drawn once, by one process
        for features in results:
            assert torch.equal(features, single), size


def test_generated_features_follow_the_seed():
    """Catches the base seed drawn from the global generator (or a fixed one) instead of the evaluation's
    generator: the same seed gives the same features, another seed other features."""
    first = generate(StrokeModel(), RandomConvFeatures(), seed=7)
    assert torch.equal(first, generate(StrokeModel(), RandomConvFeatures(), seed=7))
    torch.manual_seed(123)  # the global generator must not matter
    assert torch.equal(first, generate(StrokeModel(), RandomConvFeatures(), seed=7))
    assert not torch.allclose(first, generate(StrokeModel(), RandomConvFeatures(), seed=8))


def test_a_larger_evaluation_extends_a_smaller_one_with_new_blocks():
    """Catches block seeds that depend on the evaluation's size (n or the number of blocks mixed into the
    seed) or one seed for every block (each block the same images, a set with no variety): 9 images
    begin with the 6 of a smaller evaluation, and no two blocks repeat each other."""
    nine = generate(StrokeModel(), RandomConvFeatures(), n=9, block=3)
    six = generate(StrokeModel(), RandomConvFeatures(), n=6, block=3)
    assert torch.equal(nine[:6], six)
    for first, second in ((0, 3), (0, 6), (3, 6)):
        assert not torch.allclose(nine[first : first + 3], nine[second : second + 3])


def test_a_model_that_draws_fewer_images_than_asked_is_an_error():
    """Catches a class-conditional model's short block passing silently (n_samples would then not be the
    count the card reports): the error says why and hints at multiples of the class count."""
    with pytest.raises(GentkError, match="drew 8 images for a block of 10") as err:
        generate(BalancedModel(), RandomConvFeatures(), n=20, block=10)
    assert "multiples" in err.value.hint and "number of classes" in err.value.hint
    assert generate(BalancedModel(), RandomConvFeatures(), n=16, block=8).shape == (16, 64)


def test_samples_of_the_wrong_shape_or_point_data_are_errors():
    """Catches samples of another shape reaching the extractor (a confusing shape error deep in a
    network) and point data being sent to image metrics."""
    with pytest.raises(GentkError, match="shape") as err:
        generate(StrokeModel(), RandomConvFeatures(), info=DataInfo(shape=(1, 8, 8), num_classes=CLASSES))
    assert "samples images" in err.value.hint
    with pytest.raises(GentkError, match="points") as err:
        generate(StrokeModel(), RandomConvFeatures(), info=DataInfo(shape=(2,), kind="points"))
    assert "mode_coverage" in err.value.hint


# -- reference features -------------------------------------------------------------------------
def reference(n_images=30, seed=2):
    x, y = labelled(n_images, seed)
    return Split(x, y)


def test_reference_features_are_computed_once_and_then_read_from_the_cache(private_cache):
    """Catches the cache never being read (every evaluation recomputing the reference features) or being
    read into the wrong thing: a second call with a fresh extractor of the same card does not call it,
    and gives the features the first call computed from the split's images."""
    split = reference()
    first_extractor = RandomConvFeatures()
    features, facts = quality.reference_features(split, "test", INFO, first_extractor, 100)
    assert sum(first_extractor.calls) == 30
    assert torch.equal(features, RandomConvFeatures().features(as_float(split.x)))
    assert facts == {"reference_split": "test", "reference": 30, "data": quality.data_hash(split), "binarized": False}
    [file] = (private_cache / "quality").glob("reference-*.pt")
    again = RandomConvFeatures()
    cached, cached_facts = quality.reference_features(split, "test", INFO, again, 100)
    assert again.calls == [] and torch.equal(cached, features) and cached_facts == facts


def test_a_damaged_cache_file_is_recomputed_and_replaced(private_cache):
    """Catches a truncated or corrupt cache file (a run killed while writing, a full disk) failing every
    later evaluation: it is recomputed and written again."""
    split = reference()
    features, _ = quality.reference_features(split, "test", INFO, RandomConvFeatures(), 100)
    [file] = (private_cache / "quality").glob("reference-*.pt")
    file.write_bytes(file.read_bytes()[:100])
    extractor = RandomConvFeatures()
    again, _ = quality.reference_features(split, "test", INFO, extractor, 100)
    assert sum(extractor.calls) == 30 and torch.equal(again, features)
    assert torch.equal(torch.load(file, weights_only=True), features)


def test_the_cache_tells_extractors_splits_data_and_counts_apart(private_cache):
    """Catches a cache key that leaves out the extractor's card, the split's name, the data or the count:
    each of those changed gives another cache file and that extractor's own features."""
    split = reference()
    quality.reference_features(split, "test", INFO, RandomConvFeatures(seed=0), 100)
    other = RandomConvFeatures(seed=1)
    features, _ = quality.reference_features(split, "test", INFO, other, 100)
    assert sum(other.calls) == 30 and torch.equal(features, RandomConvFeatures(seed=1).features(as_float(split.x)))
    _, facts = quality.reference_features(split, "train", INFO, RandomConvFeatures(seed=0), 100)
    assert facts["reference_split"] == "train"
    quality.reference_features(reference(seed=3), "test", INFO, RandomConvFeatures(seed=0), 100)
    _, facts = quality.reference_features(split, "test", INFO, RandomConvFeatures(seed=0), 20)
    assert facts["reference"] == 20
    assert len(list((private_cache / "quality").glob("reference-*.pt"))) == 5


def test_reference_subset_is_fixed_and_chunking_does_not_change_the_features(tmp_path, monkeypatch):
    """Catches a reference subset that changes between calls (figures of one run not comparable) and a
    chunked extraction that drops or reorders the last partial chunk: 25 of 30 images in chunks of 7 give
    the features of the same 25 images in one call."""
    split = reference()
    whole, facts = quality.reference_features(split, "test", INFO, RandomConvFeatures(), 25, tmp_path / "a")
    assert facts["reference"] == 25 and whole.shape == (25, 64)
    monkeypatch.setattr(quality, "CHUNK", 7)
    chunked = RandomConvFeatures()
    features, _ = quality.reference_features(split, "test", INFO, chunked, 25, tmp_path / "b")
    assert chunked.calls == [7, 7, 7, 4]
    assert torch.allclose(features, whole, rtol=1e-5, atol=1e-7)
    subset = quality.reference_subset(split, 25)
    assert torch.equal(subset.x, quality.reference_subset(split, 25).x)
    assert torch.allclose(RandomConvFeatures().features(as_float(subset.x)), whole, rtol=1e-5, atol=1e-7)


def test_binarised_and_grey_references_of_the_same_pixels_are_cached_apart(private_cache):
    """Catches the reference cache serving grey-level features to a binarised run (or the reverse): datasets
    with binarize = true keep their uint8 pixels and only set DataInfo.binarized, so two runs on the same
    split (vae_mnist and vae_mnist_bernoulli, both with the inception extractor) share the data hash, the
    split, the count and the extractor card, yet their reference images differ (thresholded at 1/2)."""
    split = reference()
    binarised = DataInfo(shape=INFO.shape, num_classes=CLASSES, binarized=True)
    grey, _ = quality.reference_features(split, "test", INFO, RandomConvFeatures(), 100)
    features, _ = quality.reference_features(split, "test", binarised, RandomConvFeatures(), 100)
    expected = RandomConvFeatures().features((split.x > 127).float())  # to_float thresholds at 1/2
    assert not torch.allclose(grey, expected)
    assert torch.allclose(features, expected)


# -- SampleQuality and its protocol card -----------------------------------------------------------
CARD_FIELDS = {
    "metric",
    "generated",
    "reference",
    "reference_split",
    "data",
    "extractor",
    "weights_sha256",
    "resize",
    "input",
    "block",
    "sampler",
}


def quality_metric(**cfg):
    table = {
        "use": "quality",
        "n_samples": 40,
        "n_reference": 60,
        "block": 10,
        "kid_subsets": 5,
        "kid_subset_size": 20,
        "extractor": {"use": "classifier", "steps": 20},
        **cfg,
    }
    return resolve_component("metric", table).build()


@pytest.fixture(scope="module")
def splits():
    train, test = (Split(*labelled(n, seed)) for n, seed in ((200, 1), (80, 2)))
    return train, test


def test_the_protocol_card_has_every_field(splits):
    """Catches a card that leaves out how a figure was measured (the extractor's weights, the reference
    split and its data, the counts, the block, the sampler) or reports the wrong values for them."""
    train, test = splits
    metric = quality_metric()
    metric.fit(train, INFO)
    result = metric.evaluate(StrokeModel(), test, INFO, generator=torch.Generator().manual_seed(0))
    card = result["protocol"]
    assert CARD_FIELDS <= set(card), CARD_FIELDS - set(card)
    assert card["metric"] == "quality" and card["generated"] == 40 and card["block"] == 10
    assert card["reference"] == 60 and card["reference_split"] == "test" and card["data"] == quality.data_hash(test)
    assert card["extractor"].startswith("classifier") and len(card["weights_sha256"]) == 16
    assert card["weights_sha256"] == quality.weights_hash(get_classifier(train, INFO, steps=20))  # the cached one
    assert card["sampler"] == "StrokeModel (one pass)"
    assert card["kid_subset_size"] == 20 and card["neighborhood"] == 3
    figures = {k: v for k, v in result.items() if k != "protocol"}
    assert set(figures) == {"fid", "kid", "kid_std", "precision", "recall"}
    assert all(math.isfinite(v) for v in figures.values())


def test_the_card_says_how_a_describing_model_sampled_and_which_split_it_used(splits):
    """Catches the sampler's settings (steps given to the metric) missing from the card, and
    reference_split = 'train' still comparing with the test split (or saying so)."""
    train, test = splits
    metric = quality_metric(reference_split="train", steps=5, n_reference=500)
    metric.fit(train, INFO)
    card = metric.evaluate(DescribedModel(), test, INFO, generator=torch.Generator().manual_seed(0))["protocol"]
    assert card["sampler"] == "ddim" and card["steps"] == 5
    assert card["reference_split"] == "train" and card["data"] == quality.data_hash(train)
    assert card["reference"] == 200  # all of the split when it has fewer than n_reference
    unfitted = quality_metric(reference_split="train")
    with pytest.raises(GentkError, match="training split"):
        unfitted.evaluate(DescribedModel(), test, INFO, generator=torch.Generator())


def test_differences_report_measurement_changes_but_not_run_facts(splits):
    """Catches differences() flagging the seed, step or checkpoint of two comparable evaluations (every
    comparison would warn), or missing a real change of protocol (another sample count)."""
    train, test = splits
    cards = []
    for n_samples in (40, 40, 20):
        metric = quality_metric(n_samples=n_samples)
        metric.fit(train, INFO)
        cards.append(metric.evaluate(StrokeModel(), test, INFO, generator=torch.Generator().manual_seed(0))["protocol"])
    run_a = {**cards[0], "seed": 0, "step": 10, "checkpoint": "checkpoint-1.pt", "run_precision": "fp32"}
    run_b = {**cards[1], "seed": 1, "step": 20, "checkpoint": "newest", "run_precision": "bf16"}
    assert quality.differences([run_a, run_b]) == {}
    assert quality.differences([run_a, {**run_b, "resize": "299x299"}]) == {"resize": ["none", "299x299"]}
    assert quality.differences([cards[0], cards[2]]) == {"generated": [40, 20]}
    assert quality.differences([cards[0], {k: v for k, v in cards[0].items() if k != "block"}]) == {"block": [10, None]}


def test_evaluation_is_reproducible_from_its_seed(splits):
    """Catches figures that depend on anything but the evaluation's generator (the global seed, the
    reference cache): the same seed gives the same figures, on a cache miss and then a cache hit."""
    train, test = splits
    figures = []
    for seed in (0, 0, 1):
        metric = quality_metric(extractor={"use": "classifier", "steps": 20})
        metric.fit(train, INFO)
        torch.manual_seed(seed + 100)
        result = metric.evaluate(StrokeModel(), test, INFO, generator=torch.Generator().manual_seed(seed))
        figures.append((result["fid"], result["kid"], result["precision"], result["recall"]))
    assert figures[0] == figures[1] != figures[2]
