"""The example notebooks run top to bottom (nbclient), as a user would run them."""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".ipynb"))


def test_the_readme_links_every_notebook():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert len(NOTEBOOKS) >= 2
    for name in NOTEBOOKS:
        assert f"examples/{name}" in readme, name


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as f:
        notebook = nbformat.read(f, as_version=4)
    if name == "digits_to_tflite.ipynb":
        # The notebook's quick setting trains 6 epochs; CI runs the same cells with 2 (as a
        # papermill parameter would): what is tested is that every cell runs and shows its
        # pictures, not the accuracy, which benchmarks/demo_seeds.py measures.
        cell = next(c for c in notebook.cells if c.cell_type == "code" and "EPOCHS = 6" in c.source)
        cell.source = cell.source.replace("EPOCHS = 6", "EPOCHS = 2", 1)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if name == "digits_to_tflite.ipynb":
        # The confusion matrix and the attention maps are shown inline, as images.
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(images) >= 3
