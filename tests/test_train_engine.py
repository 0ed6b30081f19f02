"""The training engine: learning, exact resume, schedules and 2-process DDP on CPU."""
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from cardiolab.train import TrainConfig, fit, load_checkpoint, preset
from cardiolab.train.engine import lr_factor


class RegressionTask:
    """y = x @ w_true + noise, learned by a linear layer with dropout (so RNG state matters)."""

    def loss(self, model, batch):
        inputs, targets = batch
        return nn.functional.mse_loss(model(inputs), targets)


def tiny_problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(64, 8, generator=generator)
    targets = inputs @ torch.randn(8, 1, generator=generator) + 0.01 * torch.randn(64, 1, generator=generator)
    return TensorDataset(inputs, targets)


def tiny_model():
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.1), nn.ReLU(), nn.Linear(16, 1))


def config(tmp_path, name, **overrides):
    values = dict(epochs=6, batch_size=8, lr=0.01, schedule="poly", seed=7, out_dir=str(tmp_path / name), progress=False)
    return TrainConfig(**{**values, **overrides})


def test_loss_falls_and_logs_every_epoch(tmp_path):
    result = fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "run"), val_set=tiny_problem(1))
    losses = [record["train_loss"] for record in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 6
    assert "val_loss" in result.history[-1]


def test_resumed_run_ends_with_the_same_weights(tmp_path):
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "straight"))
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "killed"), stop_after_epochs=2)
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["epoch"] == 1
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "killed"), resume=True)
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")
    resumed = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert resumed["epoch"] == 5
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    # A different seed gives different weights: the comparison above can fail.
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "other", seed=8))
    other = load_checkpoint(tmp_path / "other" / "last.pt")
    assert not torch.equal(other["model"]["0.weight"], straight["model"]["0.weight"])


def test_schedules_follow_the_papers():
    poly = TrainConfig(schedule="poly", epochs=10, poly_power=0.9)
    assert lr_factor(poly, 0) == 1.0 and lr_factor(poly, 5) == pytest.approx(0.5 ** 0.9)
    step = TrainConfig(schedule="step", step_after_epochs=20, step_gamma=0.97)
    assert lr_factor(step, 20) == 1.0 and lr_factor(step, 22) == pytest.approx(0.97 ** 2)
    assert preset("seed000_unet4d").schedule == "poly"
    with pytest.raises(KeyError, match="seed000_unet4d"):
        preset("nope")


def test_early_stopping_stops(tmp_path):
    class Flat(RegressionTask):
        def validate(self, model, loader, device):
            return {"dice": 0.5}

    result = fit(tiny_model(), Flat(), tiny_problem(), config(tmp_path, "flat", epochs=20, early_stopping_patience=3,
                                                              monitor="val_dice", monitor_mode="max"), val_set=tiny_problem(1))
    assert result.stopped_early and len(result.history) == 4


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from torch import nn
    sys.path.insert(0, {tests!r})
    from test_train_engine import RegressionTask, tiny_model, tiny_problem
    from cardiolab.train import TrainConfig, fit
    cfg = TrainConfig(epochs=3, batch_size=8, lr=0.01, seed=3, out_dir={out!r}, progress=False)
    model = tiny_model()
    fit(model, RegressionTask(), tiny_problem(), cfg)
    # Every rank must end with the same weights: DDP averaged the gradients.
    weights = model[0].weight.detach().clone()
    gathered = [torch.zeros_like(weights) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, weights)
    assert all(torch.equal(g, gathered[0]) for g in gathered), "ranks disagree"
    # One file per rank: the two processes' stdout may interleave.
    open({out!r} + f"_rank{{dist.get_rank()}}_of_{{dist.get_world_size()}}.ok", "w").close()
    dist.destroy_process_group()
""")


def test_two_process_ddp_on_cpu_with_gloo(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT.format(tests=str(__import__("pathlib").Path(__file__).parent), out=str(tmp_path / "ddp")))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ddp_rank0_of_2.ok").is_file() and (tmp_path / "ddp_rank1_of_2.ok").is_file()
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["epoch"] == 2
