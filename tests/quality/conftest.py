"""Every sample-quality test caches into its own temporary folder."""

import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """GENTK_CACHE points into the test's tmp folder: no test reads or writes the user's cache."""
    cache = tmp_path / "gentk-cache"
    monkeypatch.setenv("GENTK_CACHE", str(cache))
    return cache
