"""`gentk new-plugin`: the generated plugin package passes its own tests as written."""

import os
import subprocess
import sys
import tomllib

import pytest

from gentk.errors import GentkError
from gentk.scaffold import new_plugin


def test_generated_plugin_passes_its_own_tests(tmp_path):
    root = new_plugin("tiny_flows", tmp_path)
    assert root == tmp_path / "gentk-tiny-flows"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["gentk"] == {"tiny_flows": "gentk_tiny_flows.plugin"}
    assert (root / "gentk_tiny_flows" / "recipes" / "tiny_flows_ring.toml").is_file()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


@pytest.mark.parametrize("name", ["my-flows", "1flows", "class", "Flows", "", "flows_"])
def test_a_bad_name_is_a_user_error(tmp_path, name):
    with pytest.raises(GentkError, match="not a plugin name"):
        new_plugin(name, tmp_path)
    assert not any(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "gentk-flows").mkdir()
    with pytest.raises(GentkError, match="already exists"):
        new_plugin("flows", tmp_path)
    assert not any((tmp_path / "gentk-flows").iterdir())


def test_a_name_whose_module_exists_is_refused(tmp_path):
    with pytest.raises(GentkError, match="gentk_vae is already importable"):
        new_plugin("vae", tmp_path)
