"""The paper notebooks: stored clean, parametrised, executable (papermill), and the CLI that runs them.

The executions (every notebook at ``size="smoke"`` on the phantom, CPU) and the CLI runs
are marked ``notebooks``: ``pytest -m "not notebooks"`` leaves them out, ``-m notebooks``
runs only them.
"""
import ast
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cardiolab import notebooks as nb

EXPECTED = ("00_data_tour", "01_4d_cnn_sparse_labels", "02_spatiotemporal_lv_quantification", "03_deformable_unet",
            "04_pspunet_vs_3d_unet", "05_weakly_supervised_volume_and_explanation", "06_es_ed_detection", "07_fcslstm",
            "08_leaderboard")
PAPER_NOTEBOOKS = EXPECTED[1:8]  # one per paper: each shows the library's code for its key equation
SMOKE = {"dataset": "phantom", "size": "smoke", "device": "cpu"}
executes = pytest.mark.notebooks


def read(name):
    return nbformat.read(nb.notebook_dir() / f"{name}.ipynb", as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def parameters_cell(notebook):
    tagged = [cell for cell in code_cells(notebook) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must carry the papermill tag 'parameters'"
    return tagged[0]


def assigned_names(source):
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def numbers(value):
    """Every number in a nested JSON value (booleans are not numbers)."""
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


# --- stored notebooks ----------------------------------------------------------------------
def test_all_nine_notebooks_are_present_and_catalogued():
    assert tuple(nb.available()) == EXPECTED
    assert set(nb.CATALOGUE) == set(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stored_without_outputs(name):
    notebook = read(name)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for cell in code_cells(notebook):
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: a cell was saved with its outputs"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_has_the_required_parameters(name):
    names = assigned_names(parameters_cell(read(name)).source)
    assert set(nb.REQUIRED_PARAMETERS) <= names, f"{name} lacks {set(nb.REQUIRED_PARAMETERS) - names}"
    for parameter in nb.CATALOGUE[name].sweep:  # the paper's comparison is selectable by parameters
        assert parameter in names, f"{name}: its sweep parameter {parameter!r} is not in the parameters cell"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_defines_no_class_and_imports_the_library(name):
    sources = [cell.source for cell in code_cells(read(name))]
    trees = [ast.parse(source) for source in sources]
    assert not any(isinstance(node, ast.ClassDef) for tree in trees for node in ast.walk(tree)), \
        f"{name} defines a class: models, losses and metrics come from cardiolab"
    imported = {node.module for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "cardiolab.notebooks" in imported and any(m.startswith("cardiolab.") for m in imported - {"cardiolab.notebooks"})


@pytest.mark.parametrize("name", PAPER_NOTEBOOKS)
def test_paper_notebook_shows_library_code_and_its_sweep(name):
    notebook = read(name)
    code = "\n".join(cell.source for cell in code_cells(notebook))
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "show_code(" in code, f"{name} should show the library's source of its key equation"
    assert f"cardiolab notebooks sweep {name}" in text, f"{name} should show the sweep command of its comparison"


# --- helpers -----------------------------------------------------------------------------------
def test_parse_value_reads_numbers_booleans_and_none():
    assert nb.parse_value("3") == 3 and isinstance(nb.parse_value("3"), int)
    assert nb.parse_value("1e-3") == pytest.approx(0.001)
    assert nb.parse_value("True") is True and nb.parse_value("none") is None
    assert nb.parse_value("3d") == "3d" and nb.parse_value("phantom") == "phantom"


def test_expand_grid_is_the_cartesian_product_in_order():
    points = nb.expand_grid({"variant": ["4d", "3d"], "smoothness_weight": [0, 1]})
    assert points == [{"variant": "4d", "smoothness_weight": 0}, {"variant": "4d", "smoothness_weight": 1},
                      {"variant": "3d", "smoothness_weight": 0}, {"variant": "3d", "smoothness_weight": 1}]
    assert nb.point_name(points[1]) == "variant=4d_smoothness_weight=1"
    with pytest.raises(ValueError, match="variant"):
        nb.expand_grid({"variant": []})


def test_write_metrics_turns_non_finite_into_null_and_read_metrics_flattens(tmp_path):
    nb.write_metrics(tmp_path, {"dice": 0.5, "hd95_mm": float("inf"), "model": {"r": float("nan"), "n": 3}}, {"seed": 1})
    stored = json.loads((tmp_path / "metrics.json").read_text())  # strict JSON: no NaN or Infinity tokens
    assert stored["metrics"]["hd95_mm"] is None and stored["metrics"]["model"]["r"] is None
    assert nb.read_metrics(tmp_path) == {"dice": 0.5, "hd95_mm": None, "model.r": None, "model.n": 3}
    with pytest.raises(ValueError, match="metrics"):
        nb.write_metrics(tmp_path, {})


def test_comparison_table_is_markdown_with_empty_cells_for_missing_values():
    table = nb.comparison_table({"ours": {"a": 0.12345}, "paper": {"a": 0.9, "b": 2}}, {"a": "A", "b": "B"}, digits=2)
    assert table.splitlines() == ["| | A | B |", "|---|---|---|", "| ours | 0.12 |  |", "| paper | 0.90 | 2 |"]
    assert table._repr_markdown_() == str(table)


def test_parameter_checks_name_the_parameter():
    nb.check_parameters("phantom", "smoke", "cpu", None, variant=("4d", ("4d", "3d")))
    with pytest.raises(ValueError, match="size"):
        nb.check_parameters("phantom", "huge", "cpu")
    with pytest.raises(ValueError, match="dataset"):
        nb.check_parameters("no/such/folder", "smoke", "cpu")
    with pytest.raises(ValueError, match="epochs"):
        nb.check_parameters("phantom", "smoke", "cpu", epochs=0)
    with pytest.raises(ValueError, match="variant"):
        nb.check_parameters("phantom", "smoke", "cpu", variant=("5d", ("4d", "3d")))
    assert nb.by_size("smoke", 1, 2) == 1 and nb.by_size("paper", 1, 2) == 2 and nb.model_size("smoke") == "small"


def test_find_notebook_takes_a_number_prefix_and_names_the_choices():
    assert nb.find_notebook("03").name == "03_deformable_unet.ipynb"
    with pytest.raises(KeyError, match="00_data_tour"):
        nb.find_notebook("99")


def test_load_studies_splits_the_phantom_as_the_dataset_registry():
    train = nb.load_studies("phantom", "train", 2, phantom=dict(n_frames=4, n_slices=3, size=(32, 32)))
    val = nb.load_studies("phantom", "val", 1, phantom=dict(n_frames=4, n_slices=3, size=(32, 32)))
    assert [s.info["seed"] for s in train] == [0, 1] and val[0].info["seed"] == 80
    assert train[0].shape == (4, 3, 32, 32)


def test_cine_figure_has_one_slider_step_per_image():
    import numpy as np

    figure = nb.cine_figure(np.random.default_rng(0).random((3, 300, 20)), np.zeros((3, 300, 20), np.uint8), axis="slice")
    assert len(figure.frames) == 3 and len(figure.layout.sliders[0].steps) == 3
    assert np.shape(figure.data[0].z) == (100, 7)  # planes above 128 px are shown every k-th pixel


# --- executions ------------------------------------------------------------------------------------
@executes
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_in_smoke_size_and_writes_finite_metrics(name, tmp_path):
    output = nb.run_notebook(name, SMOKE, out_dir=tmp_path, progress=False)  # papermill raises on any cell error
    executed = nbformat.read(output, as_version=4)
    assert not [o for cell in code_cells(executed) for o in cell.outputs if o.output_type == "error"]
    stored = json.loads((tmp_path / "metrics.json").read_text())
    values = numbers(stored["metrics"])
    assert len(values) >= 3 and all(math.isfinite(v) for v in values)
    assert stored["parameters"]["size"] == "smoke"
    assert list(tmp_path.glob("*.html")), "the notebook should save its figures to out_dir"
    if name != "00_data_tour":  # every other notebook trains: the engine's checkpoint lands in out_dir
        assert list(tmp_path.rglob("best.pt"))


def run_cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "cardiolab", "notebooks", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_lists_the_notebooks_and_their_sweeps():
    result = run_cli("list", timeout=600)
    assert result.returncode == 0, result.stderr
    for name in EXPECTED:
        assert name in result.stdout
    assert "--grid kappa=1,3,5,7" in result.stdout


def test_cli_run_of_an_unknown_notebook_is_one_clear_line():
    result = run_cli("run", "99_nothing", timeout=600)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "99_nothing" in result.stderr


def test_run_notebook_writes_where_out_dir_or_the_out_dir_parameter_says(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, output, parameters, **_: calls.append((output, parameters)))
    nb.run_notebook("00", {"size": "smoke", "out_dir": str(tmp_path / "from_parameter")}, progress=False)
    nb.run_notebook("00", {"out_dir": str(tmp_path / "from_parameter")}, out_dir=tmp_path / "explicit", progress=False)
    assert [Path(output).parent for output, _ in calls] == [tmp_path / "from_parameter", tmp_path / "explicit"]
    assert [parameters["out_dir"] for _, parameters in calls] == [str(tmp_path / "from_parameter"), str(tmp_path / "explicit")]


@executes
@pytest.mark.timeout(600)
def test_cli_run_executes_a_notebook_into_out_dir(tmp_path):
    result = run_cli("run", "00", "-p", "size", "smoke", "-p", "seed", "3", "--out", tmp_path, "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "00_data_tour.ipynb").is_file()
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert stored["parameters"]["seed"] == 3  # the -p value reached the notebook as an int


@executes
@pytest.mark.timeout(900)
def test_cli_sweep_runs_the_grid_and_collects_one_table(tmp_path):
    result = run_cli("sweep", "00", "--grid", "seed=0,1", "-p", "size", "smoke", "-p", "show_acdc", "False",
                     "--jobs", "2", "--out", tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with open(tmp_path / "sweep.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["seed"] for row in rows] == ["0", "1"] and all(row["status"] == "ok" for row in rows)
    # two different hearts: the collected table holds each run's own metrics
    assert rows[0]["phantom_lv_edv_true_ml"] != rows[1]["phantom_lv_edv_true_ml"]
    for row in rows:
        assert (tmp_path / f"seed={row['seed']}" / "metrics.json").is_file()
    assert "phantom_lv_ef_pct" in result.stdout  # the table is printed too
