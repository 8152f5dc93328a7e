"""image_folder on tiny folders of PNGs written by the tests."""

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gentk.data import batches
from gentk.errors import GentkError
from gentk.interfaces import Dataset
from gentk.recipe import resolve_component

COUNTS = {"cat": 5, "ant": 7, "bee": 8}  # labels follow sorted names: ant 0, bee 1, cat 2


def build(path, **table):
    return resolve_component("dataset", {"use": "image_folder", "path": str(path), **table}).build()


def image_id(img):
    """The id a test image carries in its red (or grey) top-left pixel."""
    return img.reshape(img.shape[0], -1)[:, 0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """20 RGB 12×10 images; each has a unique id in its top-left pixel and its class index in the
    green channel."""
    root = tmp_path_factory.mktemp("images")
    uid = 0
    for label, name in enumerate(sorted(COUNTS)):
        (root / name).mkdir()
        for i in range(COUNTS[name]):
            pixels = np.zeros((10, 12, 3), dtype=np.uint8)  # (H, W, C)
            pixels[..., 1] = 100 + label
            pixels[0, 0, 0] = 10 * (uid + 1)
            Image.fromarray(pixels, "RGB").save(root / name / f"{i:03d}.png")
            uid += 1
    (root / ".hidden").mkdir()
    Image.fromarray(np.zeros((3, 3, 3), dtype=np.uint8)).save(root / ".hidden" / "skip.png")
    (root / "notes").mkdir()  # a folder without images is not a class
    (root / "notes" / "readme.txt").write_text("not an image")
    return root


def test_rgb_labels_follow_sorted_folders(folder):
    ds = build(folder, grayscale=False, test_fraction=0.25)
    assert isinstance(ds, Dataset)
    assert ds.classes == ("ant", "bee", "cat")
    assert ds.info.shape == (3, 10, 12) and ds.info.num_classes == 3 and ds.info.kind == "image"
    for name in ("train", "test"):
        split = ds.split(name)
        assert split.x.dtype == torch.uint8 and split.y.dtype == torch.int64
        assert split.x.shape[1:] == (3, 10, 12)
        assert torch.equal(split.x[:, 1, 5, 5].long() - 100, split.y)  # green channel = label
    assert len(ds.split("test")) == 5 and len(ds.split("train")) == 15


def test_split_is_a_deterministic_partition(folder):
    a, b = build(folder, grayscale=False), build(folder, grayscale=False)
    assert torch.equal(a.split("train").x, b.split("train").x)
    assert torch.equal(a.split("test").y, b.split("test").y)
    train, test = set(image_id(a.split("train").x).tolist()), set(image_id(a.split("test").x).tolist())
    assert not train & test and len(train | test) == 20
    assert len(test) == 2  # round(20 * 0.1)
    other = build(folder, grayscale=False, seed=3)
    assert set(image_id(other.split("test").x).tolist()) != test


def test_grayscale_matches_pil_conversion(folder):
    ds = build(folder)
    x = ds.split("train").x
    assert ds.info.shape == (1, 10, 12) and x.shape[1:] == (1, 10, 12)
    grey_of_label = {lab: round(0.587 * (100 + lab)) for lab in range(3)}  # PIL's L = .299R + .587G + .114B
    for img, lab in zip(x, ds.split("train").y.tolist(), strict=True):
        assert abs(int(img[0, 5, 5]) - grey_of_label[lab]) <= 1


def test_resize(folder):
    ds = build(folder, size=6, grayscale=False)
    assert ds.info.shape == (3, 6, 6)
    x = ds.split("test").x
    assert x.shape[1:] == (3, 6, 6)
    assert torch.equal(x[:, 1, 3, 3].long() - 100, ds.split("test").y)  # flat colour survives resizing


def test_limit_takes_a_prefix_of_each_split(folder):
    full, small = build(folder, test_fraction=0.5), build(folder, test_fraction=0.5, limit=3)
    for name in ("train", "test"):
        assert len(small.split(name)) == 3
        assert torch.equal(small.split(name).x, full.split(name).x[:3])


def test_binarize_sets_the_flag_and_batches_binarise(folder):
    ds = build(folder, binarize=True)
    assert ds.info.binarized
    batch = next(batches(ds.split("train"), ds.info, 4))
    assert set(batch.x.unique().tolist()) <= {0.0, 1.0}


def test_missing_folder(tmp_path):
    with pytest.raises(GentkError) as err:  # found by the config's validator, or by the loader
        build(tmp_path / "nowhere")
    assert "image folder not found" in err.value.render() and "<class>" in err.value.render()


def test_relative_path_starts_at_the_current_directory(folder, monkeypatch):
    monkeypatch.chdir(folder.parent)
    assert build(folder.name).info.num_classes == 3


def test_folder_without_class_folders(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "loose.png")
    with pytest.raises(GentkError, match="no images in class folders"):
        build(tmp_path)


def test_sizes_must_match_unless_resized(tmp_path):
    for name, shape in [("a", (4, 4)), ("b", (5, 4))]:
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    ds = build(tmp_path, test_fraction=0.5)
    with pytest.raises(GentkError, match="pixels") as err:
        ds.split("train"), ds.split("test")
    assert "data.size" in err.value.hint
    assert build(tmp_path, size=4).split("train").x.shape[1:] == (1, 4, 4)


def test_unreadable_image(tmp_path):
    (tmp_path / "a").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a" / f"{i}.png")
    (tmp_path / "a" / "3.png").write_bytes(b"not a png")
    ds = build(tmp_path, test_fraction=0.25)
    with pytest.raises(GentkError, match="cannot read image"):
        ds.split("train"), ds.split("test")


def test_too_few_images(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "a" / "0.png")
    with pytest.raises(GentkError, match="too few"):
        build(tmp_path)


# -- symbolic links and oversized images -----------------------------------------------------------
def two_classes(root, per_class=3):
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((4, 4), 10 * i, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_link_to_the_root_or_a_class_is_not_another_class(tmp_path):
    root = two_classes(tmp_path / "images")
    (root / "again").symlink_to(root, target_is_directory=True)  # the extra class of duplicates
    (root / "alias").symlink_to(root / "a", target_is_directory=True)
    (root / "part").symlink_to(".", target_is_directory=True)
    ds = build(root, test_fraction=0.5)
    assert ds.classes == ("a", "b")
    assert len(ds.split("train")) + len(ds.split("test")) == 6


def test_class_folder_linked_inside_the_root_is_followed(tmp_path):
    root = two_classes(tmp_path / "images")
    store = root / ".store" / "cats"
    store.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(store / f"{i}.png")
    (root / "cats").symlink_to(store, target_is_directory=True)
    ds = build(root, test_fraction=0.5)
    assert ds.classes == ("a", "b", "cats")
    assert len(ds.split("train")) + len(ds.split("test")) == 8


@pytest.mark.parametrize("target", ["filesystem root", "outside folder"])
def test_class_folder_linked_outside_the_root_is_refused(tmp_path, target):
    root = two_classes(tmp_path / "images")
    outside = Path("/") if target == "filesystem root" else two_classes(tmp_path / "elsewhere")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GentkError, match="outside the image folder") as err:
        build(root)
    assert str(root / "escape") in err.value.message and "data.path" in str(err.value.hint)


def test_image_linked_outside_the_root_is_refused(tmp_path):
    root = two_classes(tmp_path / "images")
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(secret)
    (root / "a" / "leak.png").symlink_to(secret)
    with pytest.raises(GentkError, match="outside the image folder"):
        build(root)


def test_links_below_a_class_folder_are_not_followed(tmp_path):
    root = two_classes(tmp_path / "images")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    (root / "b" / "out").symlink_to("/", target_is_directory=True)
    ds = build(root, test_fraction=0.5)
    assert ds.classes == ("a", "b") and len(ds.split("train")) + len(ds.split("test")) == 6


def test_root_given_through_a_link(tmp_path):
    root = two_classes(tmp_path / "images")
    (tmp_path / "link").symlink_to(root, target_is_directory=True)
    assert build(tmp_path / "link").classes == ("a", "b")


def png_claiming(width, height):
    """A tiny PNG whose header claims width×height grey pixels (its data is one empty row)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("first", [True, False])
def test_decompression_bomb_is_refused_by_name(tmp_path, first):
    root = two_classes(tmp_path / "images")
    bomb = root / "a" / ("0000.png" if first else "zzz.png")  # the first file sets the size when not resized
    bomb.write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(GentkError, match="too large") as err:
        ds = build(root, test_fraction=0.5, size=None if first else 4)
        ds.split("train"), ds.split("test")
    assert str(bomb) in err.value.message and "pixels" in err.value.message


def test_image_size_limit(tmp_path, monkeypatch):
    from gentk_data import image_folder

    root = two_classes(tmp_path / "images")
    Image.fromarray(np.zeros((5, 4), dtype=np.uint8)).save(root / "b" / "big.png")
    monkeypatch.setattr(image_folder, "MAX_PIXELS", 16)
    ds = build(root, test_fraction=0.5, size=4)
    with pytest.raises(GentkError, match=r"big.png is too large \(4×5 pixels\); the limit is 16 pixels"):
        ds.split("train"), ds.split("test")


def test_a_loop_of_links_is_a_user_error(tmp_path):
    """Catches a loop of image links escaping as a RuntimeError from pathlib (reported as the
    dataset's internal failure) instead of naming the link."""
    from gentk_data.image_folder import scan

    folder = tmp_path / "imgs" / "a"
    folder.mkdir(parents=True)
    (folder / "l1.png").symlink_to("l2.png")
    (folder / "l2.png").symlink_to("l1.png")
    with pytest.raises(GentkError, match="loop of links"):
        scan(tmp_path / "imgs")
