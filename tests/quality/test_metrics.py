"""FID, KID and precision/recall over features of synthetic images (a fixed random conv network on
16x16 strokes of 4 classes), against independent float64 computations and known orderings."""

import math

import pytest
import torch

from gentk_quality.metrics import frechet_distance, kernel_distance, precision_recall
from tests.quality.synthetic import CLASSES, RandomConvFeatures, as_float, blur, labelled, noisy

N = 600  # images per set: 64 features, so both covariances are well conditioned


@pytest.fixture(scope="module")
def extractor():
    return RandomConvFeatures(seed=0)


@pytest.fixture(scope="module")
def sets(extractor):
    """Features of two independent draws of the data (all classes, equal shares): 'train' and 'test'."""
    train, test = (as_float(labelled(N, seed)[0]) for seed in (1, 2))
    return {"train_images": train, "train": extractor.features(train), "test": extractor.features(test)}


def fid_by_eigh(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu_a - mu_b|^2 + tr S_a + tr S_b - 2 tr (S_a^1/2 S_b S_a^1/2)^1/2 in float64, with symmetric square
    roots from torch.linalg.eigh (not the eigenvalues of S_a S_b) and unbiased covariances."""
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = root_a @ cov_b @ root_a
    middle = (middle + middle.T) / 2
    trace_root = torch.linalg.eigvalsh(middle).clamp(min=0).sqrt().sum()
    return float((mean_a - mean_b) @ (mean_a - mean_b) + cov_a.trace() + cov_b.trace() - 2 * trace_root)


def mmd_u(a: torch.Tensor, b: torch.Tensor) -> float:
    """The unbiased MMD^2 of the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, in float64: the
    within-set means leave out the diagonal; the cross mean takes all pairs (the sets are independent)."""
    a, b = a.double(), b.double()
    d, n, m = a.shape[1], len(a), len(b)

    def kernel(x, y):
        return (x @ y.T / d + 1) ** 3

    kaa, kbb = kernel(a, a), kernel(b, b)
    within_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    within_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return float(within_a + within_b - 2 * kernel(a, b).mean())


def mmd_v(a: torch.Tensor, b: torch.Tensor) -> float:
    """The biased MMD^2 (V-statistic: diagonals kept) of the same kernel, for the power check below."""
    a, b = a.double(), b.double()
    d = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1) ** 3

    return float(kernel(a, a).mean() + kernel(b, b).mean() - 2 * kernel(a, b).mean())


# -- FID ----------------------------------------------------------------------------------------
def test_fid_of_a_set_against_itself_is_zero(sets):
    """Catches a regularised covariance (eps * I added to one side before the square root, as some FID
    code does when the product is singular) or the two sets' features not being paired as given: both
    leave FID(X, X) visibly above zero next to the FID of two independent draws of the same data."""
    between = frechet_distance(sets["train"], sets["test"])
    assert between > 0
    assert abs(frechet_distance(sets["train"], sets["train"])) < 1e-6 * between
    assert abs(frechet_distance(sets["test"], sets["test"])) < 1e-6 * between


@pytest.mark.parametrize("change", ["independent draw", "blurred"])
def test_fid_agrees_with_a_symmetric_square_root_in_float64(sets, extractor, change):
    """Catches the distance reported as a distance (its square root) rather than the squared Frechet
    distance FID is, one set's statistics used for both, or statistics computed from features rounded to
    half precision (as under fp16/bf16 autocast): the figure must match an independent float64 computation
    (symmetric square roots by eigh) for two draws of one distribution (a small FID) and for blurred
    images (a large one). Both routes work in float64 and agree to ~1e-8 relative here; features rounded
    to half precision move FID by 7e-6 and 4e-5 relative, so 1e-6 catches that with room to spare."""
    fake = sets["train"] if change == "independent draw" else extractor.features(blur(sets["train_images"], 1.0))
    expected = fid_by_eigh(fake, sets["test"])
    assert expected > 0
    assert math.isclose(frechet_distance(fake, sets["test"]), expected, rel_tol=1e-3)
    assert math.isclose(frechet_distance(fake, sets["test"]), expected, rel_tol=1e-6)
    assert math.isclose(frechet_distance(sets["test"], fake), expected, rel_tol=1e-6)  # symmetric


def fid_levels(extractor, sets, images_at_level) -> list[float]:
    return [frechet_distance(extractor.features(images), sets["test"]) for images in images_at_level]


def assert_rising(fids: list[float], floor: float) -> None:
    """Strictly rising, each step by more than `floor`: FID between two independent draws of the data,
    which is the size of the estimator's own bias and noise at this N, so the order is no accident of
    the draw (taken as |floor|: a FID that sees no samples gives equal levels and a floor of +-1e-16)."""
    steps = [later - earlier for earlier, later in zip(fids, fids[1:], strict=False)]
    assert all(step > abs(floor) for step in steps), (fids, floor)


def test_fid_rises_with_blur(extractor, sets):
    """Catches a FID that does not see the samples (the reference compared with itself, or with a
    constant set): it must rise with Gaussian blur of sigma 0, 0.5, 1, 2 pixels."""
    fids = fid_levels(extractor, sets, [blur(sets["train_images"], s) for s in (0.0, 0.5, 1.0, 2.0)])
    assert_rising(fids, frechet_distance(sets["train"], sets["test"]))


def test_fid_rises_with_additive_noise(extractor, sets):
    """Catches a FID that does not see the samples: it must rise with pixel noise of std 0, 0.05, 0.1, 0.2."""
    fids = fid_levels(extractor, sets, [noisy(sets["train_images"], s, seed=3) for s in (0.0, 0.05, 0.1, 0.2)])
    assert_rising(fids, frechet_distance(sets["train"], sets["test"]))


def test_fid_rises_as_samples_cover_fewer_classes(extractor, sets):
    """Catches a FID blind to mode dropping (e.g. only the means compared, and class means cancel, or the
    reference compared with itself): samples of K, K-1, ..., 1 classes (same count) score ever worse."""
    levels = [as_float(labelled(N, seed=4, classes=k)[0]) for k in range(CLASSES, 0, -1)]
    assert_rising(fid_levels(extractor, sets, levels), frechet_distance(sets["train"], sets["test"]))


# -- KID ----------------------------------------------------------------------------------------
def test_kid_on_the_whole_sets_is_the_unbiased_polynomial_mmd(extractor, sets):
    """Catches another kernel (degree, scale 1/d, offset) or a biased estimator: with one subset of all
    images, KID is exactly the unbiased MMD^2 of the cubic kernel, computed here in float64."""
    fake = extractor.features(noisy(sets["train_images"], 0.1, seed=5))
    for a, b in ((fake, sets["test"]), (sets["train"], sets["test"])):
        kid, std = kernel_distance(a, b, subsets=1, subset_size=N)
        assert math.isclose(kid, mmd_u(a, b), rel_tol=1e-6, abs_tol=1e-12) and std == 0


def test_kid_is_unbiased_mean_over_disjoint_subsets_matches_the_whole(extractor):
    """Catches a biased KID (the V-statistic, diagonals kept, whose bias grows as 1/subset size): the mean
    of KID over 30 disjoint subset pairs of 40 images must match KID on all 1200 images.

    Standard error: the sample standard deviation of the 30 subset figures over sqrt(30). Both sides are
    unbiased for the same MMD^2 and the whole-set U-statistic is the average of the subset means over all
    partitions, so their difference has a variance below that of the subset mean: 3 SE is a conservative
    bound (0.3% false alarms under normality; the draws are fixed anyway). The subsets must be i.i.d.
    draws: class-balanced blocks (labels cycling) are not, and shift the subset figures by several SE.
    The V-statistic lies 6-8 SE away here, which the last assertion checks so the test keeps its power."""
    total, count = 1200, 30
    size = total // count
    fake = extractor.features(noisy(as_float(labelled(total, seed=6, iid=True)[0]), 0.03, seed=7))
    real = extractor.features(as_float(labelled(total, seed=8, iid=True)[0]))
    whole, _ = kernel_distance(fake, real, subsets=1, subset_size=total)
    pairs = list(zip(fake.split(size), real.split(size), strict=True))
    parts = torch.tensor([kernel_distance(a, b, subsets=1, subset_size=size)[0] for a, b in pairs], dtype=torch.float64)
    se = float(parts.std() / math.sqrt(count))
    assert abs(float(parts.mean()) - whole) < 3 * se, (float(parts.mean()), whole, se)
    biased = [mmd_v(a, b) for a, b in pairs]
    assert abs(sum(biased) / count - mmd_v(fake, real)) > 3 * se  # the check can tell a biased estimator


def test_kid_subset_size_is_capped_at_the_smaller_set(sets):
    """Catches kid_subset_size passed through uncapped (torch-fidelity refuses subsets larger than a set,
    so a small evaluation with the default 1000 would fail) or capped at the larger set."""
    few = sets["train"][:50]
    assert kernel_distance(few, sets["test"], subsets=3, subset_size=1000) == kernel_distance(
        few, sets["test"], subsets=3, subset_size=50
    )


# -- precision and recall -------------------------------------------------------------------------
def test_precision_drops_on_noise_images(extractor, sets):
    """Catches precision measured against the wrong balls (the generated set's own k-NN balls, where every
    set is precise): images of the data distribution are precise, the same images under heavy noise are
    not."""
    clean_precision, clean_recall = precision_recall(sets["train"], sets["test"])
    noise_precision, _ = precision_recall(extractor.features(noisy(sets["train_images"], 0.2, seed=9)), sets["test"])
    assert clean_precision > 0.9 and clean_recall > 0.9
    assert noise_precision < clean_precision - 0.5


def test_recall_drops_on_one_class_samples(extractor, sets):
    """Catches precision and recall swapped (one class of good images is precise but does not cover the
    data): samples of one class keep their precision and lose recall against data of all classes."""
    one_class = extractor.features(as_float(labelled(N, seed=10, classes=1)[0]))
    precision, recall = precision_recall(one_class, sets["test"])
    _, all_recall = precision_recall(sets["train"], sets["test"])
    assert precision > 0.9
    assert recall < 0.5 < all_recall
