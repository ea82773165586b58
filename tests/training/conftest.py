"""Fixtures for the training tests."""
import json

import pytest

from tests.training.helpers import TINY_RECIPE


@pytest.fixture
def tiny_recipe_file(tmp_path):
    """Path of a JSON recipe for a tiny ViT on digits."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_RECIPE))
    return str(path)
