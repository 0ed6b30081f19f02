"""The paper notebooks: what they need while they run, and how to run and sweep them.

One notebook per paper lives in ``notebooks/`` (see `CATALOGUE`). Each one walks
through its paper step by step and is parametrised for papermill: its ``parameters``
cell holds ``dataset``, ``data_root``, ``size``, ``epochs``, ``device``, ``seed``,
``out_dir`` and the switches that select the paper's variants (``variant``, ``kappa``,
``loss``, ...). A run writes ``out_dir/metrics.json``, the checkpoint (``best.pt``,
``last.pt``) and the figures (``*.html``) next to the executed notebook.

This file has two halves.

1. Helpers the notebooks call, so that every notebook resolves its parameters the
   same way and shows training the same way: `check_parameters`, `by_size`,
   `load_studies`, `train_live` (live plotly curves, one engine epoch at a time),
   `show_code` (the library's source via ``inspect.getsource``), `comparison_table`,
   `save_figure`, `write_metrics`. Models, losses and metrics are never defined here:
   the notebooks import them from `cardiolab.models`, `cardiolab.losses` and
   `cardiolab.metrics`.
2. Running them: `run_notebook` (papermill, kernel ``python3``), `sweep` (a grid of
   runs in parallel processes, their ``metrics.json`` collected into one table) and the
   ``cardiolab notebooks list|run|sweep`` command (`add_notebook_commands`).

Sizes
-----
``smoke``  seconds of training on tiny phantoms: proves the notebook runs end to end
           (continuous integration executes all nine; about a minute each on a CPU).
``small``  the registry's ``small`` models on a few dozen studies for a few dozen epochs:
           minutes on a CPU, numbers that say whether a model learns.
``paper``  the registry's ``paper`` models with the paper's epochs and data sizes: GPU.

Choices made here: the phantom splits are those of `cardiolab.data.datasets`
(train seeds 0-79, val 80-89); ACDC's ``train``/``val`` are its stratified
``fold0_train``/``fold0_val`` (the 20-patient hold-out); a folder of studies is sorted
by name and every fifth study is ``val``. A sweep runs each point in its own process
with ``OMP_NUM_THREADS = cores // jobs`` so the runs do not fight over the cores.
"""
from __future__ import annotations

import csv
import inspect
import itertools
import json
import math
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

# The notebooks run without ipywidgets: tqdm's text bars are fine there, its warning is noise.
warnings.filterwarnings("ignore", message="IProgress not found")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SIZES = ("smoke", "small", "paper")
KERNEL_NAME = "python3"
REQUIRED_PARAMETERS = ("dataset", "data_root", "epochs", "device", "size", "seed", "out_dir")
METRICS_FILE = "metrics.json"


# =========================================================================================
# The catalogue: every notebook, its paper, and the sweep that reproduces its comparison
# =========================================================================================
@dataclass(frozen=True)
class NotebookInfo:
    name: str
    paper: str                                  # where the notebook's content comes from
    summary: str                                # one line for `cardiolab notebooks list`
    sweep: dict = field(default_factory=dict)   # parameter -> values: the paper's comparison


CATALOGUE = {info.name: info for info in (
    NotebookInfo("00_data_tour", "all papers; ACDC (Bernard et al. 2018)",
                 "cine studies: phantom and ACDC, slices, frames, labels, spacing, volume curves, EF"),
    NotebookInfo("01_4d_cnn_sparse_labels", "seed 000 (4D CNN, sparse labels, 4D CCTA)",
                 "4D U-net with sparse Dice + temporal smoothness vs the 3D network",
                 {"variant": ["4d", "3d"], "smoothness_weight": [0, 1]}),
    NotebookInfo("02_spatiotemporal_lv_quantification", "seed 001 (spatio-temporal CNN, LVQuan18)",
                 "direct LV quantification: 11 indices and the phase from kappa adjacent frames",
                 {"kappa": [1, 3, 5, 7]}),
    NotebookInfo("03_deformable_unet", "seed 002 (DeU-Net: TDAM + DGPA, ACDC)",
                 "DeU-Net and its ablations DeU-Net(t), DeU-Net(d)",
                 {"variant": ["deunet", "deunet_t", "deunet_d"]}),
    NotebookInfo("04_pspunet_vs_3d_unet", "thesis Ch. 5",
                 "PSPU-net vs 3D U-net segmentation, generalised Dice loss",
                 {"variant": ["pspunet", "unet3d_thesis"]}),
    NotebookInfo("05_weakly_supervised_volume_and_explanation", "thesis Ch. 6",
                 "LV volume learnt from one number per patient; its own map explains it",
                 {"pi_weight": [0, 100]}),
    NotebookInfo("06_es_ed_detection", "thesis Ch. 7",
                 "ES/ED frames with dilated temporal convolutions; weighted Dice vs weighted CE, naive vs central",
                 {"loss": ["dice", "ce"]}),  # every run reports both post-processings
    NotebookInfo("07_fcslstm", "seed 004 (FCSLSTM)",
                 "FCN vs FCSLSTM vs bidirectional FCSLSTM on one slice over time",
                 {"variant": ["fcn", "fcslstm", "bidirectional"]}),
    NotebookInfo("08_leaderboard", "thesis Ch. 5, seeds 000, 002, 004, the bundled default",
                 "every segmentation model on the same data and the same metrics"),
)}


def notebook_dir() -> Path:
    """The folder holding the notebooks: ``$CARDIOLAB_NOTEBOOKS`` or ``notebooks/`` of the project."""
    return Path(os.environ.get("CARDIOLAB_NOTEBOOKS", PROJECT_ROOT / "notebooks"))


def available() -> list[str]:
    """Names of the notebooks present in `notebook_dir`, sorted."""
    return sorted(path.stem for path in notebook_dir().glob("[0-9][0-9]_*.ipynb"))


def find_notebook(name: str) -> Path:
    """``notebooks/NAME.ipynb``; NAME may be the full name or its unique number prefix ("01")."""
    names = available()
    matches = [n for n in names if n == name] or [n for n in names if n.startswith(f"{name}_") or n.startswith(name)]
    if len(matches) != 1:
        found = "several match: " + ", ".join(matches) if matches else "none matches"
        raise KeyError(f"notebook {name!r}: {found}; notebooks: {', '.join(names) or 'none in ' + str(notebook_dir())}")
    return notebook_dir() / f"{matches[0]}.ipynb"


# =========================================================================================
# 1. Helpers called from inside the notebooks
# =========================================================================================
def check_parameters(dataset, size, device, epochs=None, **choices) -> None:
    """Fail early, naming the parameter, when a notebook is given a value it cannot use.

    ``choices``: ``name=(value, allowed_values)`` for the notebook's own switches.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be 'phantom', 'acdc' or a folder of studies, got {dataset!r}")
    if dataset not in ("phantom", "acdc") and not Path(dataset).exists():
        raise ValueError(f"dataset must be 'phantom', 'acdc' or an existing folder of studies, got {dataset!r}")
    if not isinstance(device, str) or not (device in ("cpu", "auto") or device.startswith("cuda") or device == "mps"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive int or None (the size's default), got {epochs!r}")
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


def by_size(size: str, smoke, small, paper=None):
    """The value for ``size``; ``paper`` defaults to the ``small`` value."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return {"smoke": smoke, "small": small, "paper": small if paper is None else paper}[size]


def model_size(size: str) -> str:
    """The registry size for a notebook size: ``paper`` -> "paper", otherwise "small"."""
    return by_size(size, smoke="small", small="small", paper="paper")


def setup(out_dir, seed: int = 0) -> Path:
    """Create ``out_dir``, seed every generator, draw plotly figures light (plotly.js from its CDN)."""
    import plotly.io as pio

    from cardiolab.train.engine import seed_everything

    pio.renderers.default = "plotly_mimetype+notebook_connected"
    seed_everything(int(seed))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _study_paths(folder: Path) -> list[Path]:
    """Every loadable study in a folder: sub-folders and NIfTI/zip files, sorted by name."""
    suffixes = (".nii", ".nii.gz", ".zip")
    return sorted(path for path in folder.iterdir() if path.is_dir() or path.name.endswith(suffixes))


def load_studies(dataset: str, split: str, count: int | None = None, data_root=None, phantom: dict | None = None) -> list:
    """Labelled studies of ``dataset`` (``"phantom"``, ``"acdc"`` or a folder) and ``split`` ("train", "val").

    ``count`` keeps the first studies only (None: all); ``phantom`` holds options of
    `cardiolab.data.phantom.make_phantom` (frames, slices, size, ...).
    """
    from cardiolab.data import datasets, load_cine

    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"count must be a positive int or None, got {count!r}")
    if dataset == "phantom":
        studies = datasets.load("phantom", split=split, **(phantom or {}))
    elif dataset == "acdc":
        studies = datasets.load("acdc", root=data_root, split={"train": "fold0_train", "val": "fold0_val"}[split])
    else:
        paths = _study_paths(Path(dataset))
        chosen = [p for i, p in enumerate(paths) if (i % 5 == 4) == (split == "val")]
        if not chosen:
            raise ValueError(f"dataset folder {dataset} has no study for split {split!r} (every fifth study is 'val')")
        studies = (load_cine(path) for path in chosen)
    return list(itertools.islice(studies, count))


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


def _curve_figure(history: list, curves, title: str):
    import plotly.graph_objects as go

    figure = go.Figure(layout=dict(title=title, xaxis_title="epoch", height=320, margin=dict(t=40, b=40)))
    for name in curves:
        epochs = [record["epoch"] + 1 for record in history if record.get(name) is not None]
        values = [record[name] for record in history if record.get(name) is not None]
        axis = "y2" if not name.endswith("loss") else "y"
        figure.add_scatter(x=epochs, y=values, mode="lines+markers", name=name, yaxis=axis)
    if any(not name.endswith("loss") for name in curves):
        figure.update_layout(yaxis2=dict(overlaying="y", side="right", title="score"), yaxis_title="loss")
    return figure


def train_live(model, task, train_set, config, val_set=None, curves=("train_loss", "val_loss"), title="training"):
    """Train with `cardiolab.train.fit`, one epoch per call, redrawing the curves after each.

    The engine writes its checkpoints and ``metrics.jsonl`` to ``config.out_dir``; a
    stale run there is removed first, so the run starts from scratch. Resuming after
    each epoch ends with exactly the weights of one uninterrupted run (the engine
    restores every random state). Returns the history (one dict per epoch) and saves
    the curves as ``training_curves.html``.
    """
    from cardiolab.train.engine import BEST_CHECKPOINT, LAST_CHECKPOINT, fit

    out_dir = Path(config.out_dir)
    for stale in (LAST_CHECKPOINT, BEST_CHECKPOINT, "metrics.jsonl", "metrics.csv"):
        (out_dir / stale).unlink(missing_ok=True)
    show = None
    if _in_notebook():
        # Redraw by clearing the cell's output (nbclient, which papermill uses, appends display
        # updates as new outputs instead of replacing them): call train_live first in its cell.
        from IPython.display import clear_output, display

        def show(figure):
            clear_output(wait=True)
            display(figure)

        show(_curve_figure([], curves, title))
    history, started = [], time.time()
    for epoch in range(config.epochs):
        result = fit(model, task, train_set, config, val_set=val_set, resume=epoch > 0, stop_after_epochs=1)
        history = result.history
        figure = _curve_figure(history, curves, f"{title}: epoch {epoch + 1}/{config.epochs}, {time.time() - started:.0f} s")
        if show is not None:
            show(figure)
        else:
            scores = ", ".join(f"{k} {history[-1][k]:.4g}" for k in curves if isinstance(history[-1].get(k), float))
            print(f"epoch {epoch + 1}/{config.epochs}: {scores}")
        if result.stopped_early:  # the engine's early stopping ([seed 002]: Dice stalled) ends the run
            break
    save_figure(figure, out_dir, "training_curves")
    return history


def show_code(obj) -> None:
    """Display the library's own source of ``obj`` (``inspect.getsource``): the code, not a copy of it."""
    module = inspect.getmodule(obj)
    source = inspect.getsource(obj)
    header = f"# {module.__name__ if module else ''}.{getattr(obj, '__qualname__', '')}\n"
    if _in_notebook():
        from IPython.display import Markdown, display

        display(Markdown(f"```python\n{header}{source}```"))
    else:
        print(header + source)


# Label overlay colours: background transparent, LV cavity red, myocardium green, RV blue.
LABEL_COLOURS = ((0, "rgba(0,0,0,0)"), (1, "rgba(230,50,50,0.45)"), (2, "rgba(40,180,60,0.45)"), (3, "rgba(40,90,230,0.45)"))


def _label_colourscale() -> list:
    """A discrete plotly colour scale for labels 0..3 (zmin=-0.5, zmax=3.5)."""
    scale = []
    for value, colour in LABEL_COLOURS:
        scale += [[value / 4, colour], [(value + 1) / 4, colour]]
    return scale


def cine_figure(images, labels=None, axis: str = "frame", title: str = "", step_names=None, height: int = 420,
                max_side: int = 128):
    """Images ``(N, Y, X)`` (and labels ``(N, Y, X)``) with a slider over N (frames or slices).

    To keep the figure light, planes larger than ``max_side`` pixels are shown every
    k-th pixel, and intensities as 8-bit grey levels (0..255 between the 1st and 99th
    percentile); labels are a coloured, transparent overlay.
    """
    import numpy as np
    import plotly.graph_objects as go

    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must be (N, Y, X), got shape {images.shape}")
    if labels is not None and np.shape(labels) != images.shape:
        raise ValueError(f"labels must match images {images.shape}, got {np.shape(labels)}")
    stride = max(1, math.ceil(max(images.shape[1:]) / max_side))
    images = images[:, ::stride, ::stride]
    labels = None if labels is None else np.asarray(labels)[:, ::stride, ::stride]
    low, high = np.percentile(images, [1, 99])
    grey = np.clip((images - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8)
    names = list(step_names) if step_names is not None else [str(i) for i in range(len(images))]

    def traces(index):
        shown = [go.Heatmap(z=grey[index], colorscale="gray", showscale=False, zmin=0, zmax=255, hoverinfo="skip")]
        if labels is not None:
            shown.append(go.Heatmap(z=np.asarray(labels[index], dtype=np.uint8), colorscale=_label_colourscale(),
                                    zmin=-0.5, zmax=3.5, showscale=False, hovertemplate="label %{z}<extra></extra>"))
        return shown

    figure = go.Figure(data=traces(0), frames=[go.Frame(data=traces(i), name=names[i]) for i in range(len(images))])
    steps = [dict(method="animate", label=names[i], args=[[names[i]], dict(mode="immediate", frame=dict(duration=0))])
             for i in range(len(images))]
    figure.update_layout(title=title, height=height, width=height, margin=dict(t=40, b=10, l=10, r=10),
                         sliders=[dict(steps=steps, currentvalue=dict(prefix=f"{axis} "))])
    figure.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    figure.update_xaxes(visible=False)
    return figure


def _cell(value, digits: int) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


class MarkdownTable(str):
    """A Markdown table as a string that a notebook renders as a table."""

    def _repr_markdown_(self) -> str:
        return str(self)


def comparison_table(rows: dict, columns, digits: int = 3) -> MarkdownTable:
    """A Markdown table: one row per source (``{"ours": {...}, "paper": {...}}``), ``columns`` keys.

    ``columns`` is a list of keys or a dict key -> header. Missing values stay empty.
    """
    headers = columns if isinstance(columns, dict) else {key: key for key in columns}
    lines = ["| | " + " | ".join(headers.values()) + " |", "|---" * (len(headers) + 1) + "|"]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(values.get(key), digits) for key in headers) + " |")
    return MarkdownTable("\n".join(lines))


def save_figure(figure, out_dir, name: str) -> Path:
    """Write a plotly figure to ``out_dir/name.html`` (plotly.js loaded from its CDN when opened)."""
    path = Path(out_dir) / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs="cdn")
    return path


def _plain(value):
    """JSON-ready: numpy scalars and arrays to Python, non-finite floats to None."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_metrics(out_dir, metrics: dict, parameters: dict | None = None) -> Path:
    """Write ``out_dir/metrics.json``: ``metrics`` (numbers; NaN and inf become null) and the run's parameters."""
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("metrics must be a non-empty dict of name -> number")
    path = Path(out_dir) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"metrics": _plain(metrics), "parameters": _plain(parameters or {})}
    path.write_text(json.dumps(record, indent=2))
    return path


# =========================================================================================
# 2. Running notebooks: papermill, sweeps, the command line
# =========================================================================================
def parse_value(text: str):
    """A command-line value as a notebook parameter: int, float, bool, None or the string itself."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def default_out_dir(name: str) -> Path:
    return Path("runs") / "notebooks" / name


def run_notebook(name: str, parameters: dict | None = None, out_dir=None, kernel_name: str = KERNEL_NAME,
                 progress: bool = True) -> Path:
    """Execute notebook ``name`` with papermill; returns the executed notebook's path.

    The executed copy is written to ``out_dir/NAME.ipynb``, and ``out_dir`` is passed
    to the notebook as its ``out_dir`` parameter, so the notebook's metrics, checkpoint
    and figures land beside it. Without ``out_dir``, an ``out_dir`` among ``parameters``
    (``-p out_dir DIR``) is the folder, then ``runs/notebooks/NAME``. Relative paths are
    taken from the current directory.
    """
    source = find_notebook(name)
    import papermill  # only now: a wrong name fails fast

    out = Path(out_dir or (parameters or {}).get("out_dir") or default_out_dir(source.stem)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    values = {**(parameters or {}), "out_dir": str(out)}
    output = out / source.name
    papermill.execute_notebook(str(source), str(output), parameters=values, kernel_name=kernel_name,
                               progress_bar=progress, cwd=os.getcwd())
    return output


def expand_grid(grid: dict) -> list[dict]:
    """Every combination of a ``{parameter: [values]}`` grid, in order."""
    if not grid:
        raise ValueError("grid must name at least one parameter with its values")
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"grid values of {key!r} must be a non-empty list, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combination)) for combination in itertools.product(*(grid[k] for k in keys))]


def point_name(point: dict) -> str:
    """A folder name for one grid point, e.g. ``variant=3d_seed=0``."""
    return "_".join(f"{key}={value}" for key, value in point.items()).replace("/", "-").replace(" ", "")


def flatten(metrics: dict, prefix: str = "") -> dict:
    """Nested metrics as one level: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (numbers, strings, None)."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif value is None or isinstance(value, (int, float, str, bool)):
            flat[name] = value
    return flat


def read_metrics(run_dir) -> dict:
    """The ``metrics`` of a run folder's ``metrics.json``, flattened."""
    return flatten(json.loads((Path(run_dir) / METRICS_FILE).read_text())["metrics"])


def default_jobs() -> int:
    """Parallel runs: half the cores (each run's own threads get the rest), at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


def _run_point(name: str, point: dict, base: dict, run_dir: Path, threads: int) -> dict:
    """One grid point in its own process (`python -m cardiolab notebooks run`), output to run.log."""
    command = [sys.executable, "-m", "cardiolab", "notebooks", "run", name, "--out", str(run_dir), "--no-progress"]
    for key, value in {**base, **point}.items():
        command += ["-p", key, "None" if value is None else str(value)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(run_dir / "run.log", "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=os.getcwd())
    row = {**point, "status": "ok" if result.returncode == 0 else "failed", "seconds": round(time.time() - started, 1),
           "run_dir": str(run_dir)}
    if result.returncode == 0:
        row.update(read_metrics(run_dir))
    return row


def sweep(name: str, grid: dict, jobs: int | None = None, out_dir=None, parameters: dict | None = None,
          progress: bool = True) -> dict:
    """Run notebook ``name`` at every point of ``grid`` and collect every ``metrics.json``.

    Points run in ``jobs`` parallel processes (default `default_jobs`), each in
    ``out_dir/<point>/`` with its executed notebook and ``run.log``. Returns
    ``{"rows": [...], "csv": path}``; ``out_dir/sweep.csv`` holds one row per point
    (the grid values, status, seconds, every metric).
    """
    from tqdm.auto import tqdm

    source = find_notebook(name)
    points = expand_grid(grid)
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    threads = max(1, (os.cpu_count() or 1) // min(jobs, len(points)))
    out = Path(out_dir or default_out_dir(source.stem).with_name(f"{source.stem}-sweep")).resolve()
    rows = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_run_point, source.stem, point, parameters or {}, out / point_name(point), threads): point
                   for point in points}
        bar = tqdm(total=len(points), desc=f"sweep {source.stem}", disable=not progress)
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            bar.update(1)
            bar.write(f"{row['status']:6s} {point_name(futures[future])} ({row['seconds']} s)")
        bar.close()
    order = {point_name(point): index for index, point in enumerate(points)}
    rows.sort(key=lambda row: order[point_name({key: row[key] for key in grid})])
    csv_path = write_rows_csv(rows, out / "sweep.csv")
    return {"rows": rows, "csv": csv_path}


def write_rows_csv(rows: list, path) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def rows_table(rows: list, skip=("run_dir",)) -> str:
    """Rows as an aligned text table (numbers to 4 significant digits)."""
    columns = [key for key in dict.fromkeys(k for row in rows for k in row) if key not in skip]
    text = [[f"{row[c]:.4g}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in text)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in text]
    return "\n".join(lines)


# --- the command line ----------------------------------------------------------------------
def _parameters(pairs) -> dict:
    return {key: parse_value(value) for key, value in (pairs or [])}


def _grid(specs) -> dict:
    grid = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"--grid takes KEY=V1,V2,... got {spec!r}")
        grid[key] = [parse_value(value) for value in values.split(",")]
    return grid


def cmd_list(args) -> int:
    names = available()
    if not names:
        print(f"no notebooks in {notebook_dir()}")
        return 1
    for name in names:
        info = CATALOGUE.get(name)
        print(f"{name:46s} {info.summary if info else ''}")
        if info and info.sweep:
            grid = " ".join(f"{k}={','.join(map(str, v))}" for k, v in info.sweep.items())
            print(f"{'':46s} sweep: cardiolab notebooks sweep {name} --grid {grid}")
    return 0


def _execution_error(error) -> str:
    return f"{type(error).__name__}: {getattr(error, 'evalue', None) or error}"


def cmd_run(args) -> int:
    try:
        output = run_notebook(args.name, _parameters(args.parameter), args.out, args.kernel, progress=not args.no_progress)
    except Exception as error:  # papermill's execution error names the failing cell's exception
        if isinstance(error, KeyError):
            raise
        print(f"cardiolab notebooks run: {args.name} failed: {_execution_error(error)}", file=sys.stderr)
        return 1
    metrics = output.parent / METRICS_FILE
    print(f"wrote {output}" + (f" and {metrics}" if metrics.is_file() else ""))
    return 0


def cmd_sweep(args) -> int:
    try:
        grid = _grid(args.grid)
        expand_grid(grid)
    except ValueError as error:
        print(f"cardiolab notebooks sweep: error: {error}", file=sys.stderr)
        return 2
    result = sweep(args.name, grid, args.jobs, args.out, _parameters(args.parameter), progress=True)
    print(rows_table(result["rows"]))
    print(f"wrote {result['csv']}")
    return 0 if all(row["status"] == "ok" for row in result["rows"]) else 1


def add_notebook_commands(subparsers) -> None:
    """Add ``notebooks list|run|sweep`` to the ``cardiolab`` command line."""
    notebooks = subparsers.add_parser("notebooks", help="list, run (papermill) and sweep the paper notebooks")
    commands = notebooks.add_subparsers(dest="notebook_command", required=True)

    listing = commands.add_parser("list", help="the notebooks and the sweeps that reproduce their papers' comparisons")
    listing.set_defaults(func=cmd_list)

    def common(parser):
        parser.add_argument("name", help="notebook name or its number, e.g. 01 or 01_4d_cnn_sparse_labels")
        parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                            help="a notebook parameter, e.g. -p size smoke -p epochs 3 (repeatable)")
        parser.add_argument("--out", default=None, help="output folder (default runs/notebooks/NAME[-sweep])")

    run = commands.add_parser("run", help="execute one notebook with papermill")
    common(run)
    run.add_argument("--kernel", default=KERNEL_NAME, help=f"Jupyter kernel (default {KERNEL_NAME})")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    grid = commands.add_parser("sweep", help="run a notebook over a parameter grid and tabulate every metrics.json")
    common(grid)
    grid.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                      help="parameter values to combine, e.g. --grid variant=4d,3d smoothness_weight=0,1")
    grid.add_argument("--jobs", type=int, default=None, help=f"parallel runs (default cores // 2 = {default_jobs()})")
    grid.set_defaults(func=cmd_sweep)
