"""MNIST, Fashion-MNIST and CIFAR-10 on tiny fake files in torchvision's layout, offline."""

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torchvision

from gentk.errors import GentkError
from gentk.interfaces import Dataset
from gentk.recipe import resolve_component

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def build(name, **table):
    return resolve_component("dataset", {"use": name, **table}).build()


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic (type 0x08, number of dims), big-endian sizes, data."""
    head = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(np.uint8).tobytes()


def fake_mnist(root, folder="MNIST", n_train=6, n_test=4, compress=True):
    """Random digits in `root/folder/raw/`; returns {split: (images (N, 28, 28), labels (N,))}."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    data = {}
    for split, prefix, n in [("train", "train", n_train), ("test", "t10k", n_test)]:
        images, labels = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        data[split] = (images, labels)
        for kind, array in [("images-idx3", images), ("labels-idx1", labels)]:
            name, content = f"{prefix}-{kind}-ubyte", idx_bytes(array)
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (raw / name).write_bytes(content)
    return data


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_files_load_as_uint8(tmp_path, name, folder):
    data = fake_mnist(tmp_path, folder)
    ds = build(name, root=str(tmp_path), download=False)
    assert isinstance(ds, Dataset)
    assert ds.info.shape == (1, 28, 28) and ds.info.num_classes == 10 and not ds.info.binarized
    for split, (images, labels) in data.items():
        got = ds.split(split)
        assert got.x.dtype == torch.uint8 and got.x.shape == (len(images), 1, 28, 28)
        assert torch.equal(got.x[:, 0], torch.from_numpy(images.astype(np.uint8)))
        assert torch.equal(got.y, torch.from_numpy(labels).long())
    assert len(ds.classes) == 10


def test_unpacked_files_and_limit(tmp_path):
    data = fake_mnist(tmp_path, compress=False)
    ds = build("mnist", root=str(tmp_path), download=False, limit=3, binarize=True)
    assert ds.info.binarized
    assert len(ds.split("train")) == 3 and len(ds.split("test")) == 3
    assert torch.equal(ds.split("train").x[:, 0], torch.from_numpy(data["train"][0][:3].astype(np.uint8)))


def test_root_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    monkeypatch.setenv("GENTK_DATA", str(tmp_path))
    assert len(build("mnist", download=False).split("test")) == 4


@pytest.fixture
def offline(monkeypatch):
    """Every download attempt fails as it does without a network."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_failed_download_says_which_files_to_place_where(tmp_path, offline, name, folder):
    ds = build(name, root=str(tmp_path))
    with pytest.raises(GentkError, match="download failed") as err:
        ds.split("train")
    hint = err.value.hint
    assert all(f"{f}.gz" in hint for f in MNIST_FILES)
    assert str(tmp_path / folder / "raw") in hint and "GENTK_DATA" in hint and "data.root" in hint


def test_missing_files_without_download_name_only_the_missing(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    fake_mnist(tmp_path)
    for f in MNIST_FILES[:2]:
        (raw / f"{f}.gz").unlink()
    with pytest.raises(GentkError, match="download = false") as err:
        build("mnist", root=str(tmp_path), download=False).split("test")
    assert "train-images-idx3-ubyte.gz" in err.value.hint and "t10k" not in err.value.hint


def test_damaged_archive(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(GentkError, match="could not unpack"):
        build("mnist", root=str(tmp_path), download=False).split("train")


# -- CIFAR-10 ------------------------------------------------------------------------------------
def cifar_batches(n_per_batch=3):
    """The six pickled batches and the meta file: name -> bytes; and the expected images."""
    rng = np.random.default_rng(1)
    files, expected = {}, {"train": [], "test": []}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        flat = rng.integers(0, 256, (n_per_batch, 3 * 32 * 32)).astype(np.uint8)  # rows: R plane, G, B
        labels = rng.integers(0, 10, n_per_batch).tolist()
        files[name] = pickle.dumps({"data": flat, "labels": labels})
        expected["test" if name == "test_batch" else "train"].append((flat.reshape(-1, 3, 32, 32), labels))
    files["batches.meta"] = pickle.dumps({"label_names": [f"class{i}" for i in range(10)]})
    return files, expected


@pytest.fixture
def fake_cifar_checksums(monkeypatch):
    """torchvision checks the real files' MD5 sums; the fake files get their own."""
    cls = torchvision.datasets.CIFAR10
    files, expected = cifar_batches()
    md5 = {name: hashlib.md5(content).hexdigest() for name, content in files.items()}
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})
    return files, expected


def check_cifar(ds, expected):
    assert ds.info.shape == (3, 32, 32) and ds.info.num_classes == 10
    for split, parts in expected.items():
        got = ds.split(split)
        assert got.x.dtype == torch.uint8 and got.x.shape == (sum(len(p[0]) for p in parts), 3, 32, 32)
        assert torch.equal(got.x, torch.from_numpy(np.concatenate([p[0] for p in parts])))
        assert got.y.tolist() == [label for p in parts for label in p[1]]


def test_cifar_batches(tmp_path, fake_cifar_checksums):
    files, expected = fake_cifar_checksums
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    check_cifar(build("cifar10", root=str(tmp_path), download=False), expected)


def test_cifar_archive_placed_by_hand_is_unpacked(tmp_path, fake_cifar_checksums, offline):
    files, expected = fake_cifar_checksums
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    check_cifar(build("cifar10", root=str(tmp_path), download=False), expected)


def test_cifar_failed_download(tmp_path, offline):
    with pytest.raises(GentkError, match="download failed") as err:
        build("cifar10", root=str(tmp_path)).split("test")
    assert "cifar-10-python.tar.gz" in err.value.hint and str(tmp_path) in err.value.hint


def hostile_archive(path, members):
    """A CIFAR-named archive holding `members`: (name, kind, link target) with kind file or symlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
            else:
                info.size = 4
                tar.addfile(info, io.BytesIO(b"evil"))


GOOD = ("cifar-10-batches-py/batches.meta", "file", "")


@pytest.mark.parametrize(
    "member, why",
    [
        (("../evil", "file", ""), "'..'"),
        (("cifar-10-batches-py/../../evil", "file", ""), "'..'"),
        (("/tmp/gentk-abs-evil", "file", ""), "absolute path"),
        (("cifar-10-batches-py/up", "symlink", "../../evil"), "outside the folder"),
        (("cifar-10-batches-py/root", "symlink", "/"), "outside the folder"),
    ],
)
def test_cifar_archive_members_outside_the_folder_are_refused(tmp_path, member, why):
    data = tmp_path / "data"
    data.mkdir()
    archive = data / "cifar-10-python.tar.gz"
    hostile_archive(archive, [GOOD, member])
    with pytest.raises(GentkError, match="refusing to unpack") as err:
        build("cifar10", root=str(data), download=False).split("test")
    assert str(archive) in err.value.message and repr(member[0]) in err.value.message and why in err.value.message
    assert "genuine" in str(err.value.hint)
    assert not (tmp_path / "evil").exists() and not (data / "cifar-10-batches-py").exists()  # nothing written


def test_safe_extract_unpacks_inner_links(tmp_path):
    from gentk_data.torchvision_sets import safe_extract

    archive = tmp_path / "ok.tar"
    hostile_archive(archive, [("d/a", "file", ""), ("d/b", "symlink", "a"), ("d/e/c", "symlink", "../a")])
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "b").read_bytes() == b"evil" and (tmp_path / "out" / "d" / "e" / "c").is_symlink()
