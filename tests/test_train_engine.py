"""The training engine: learning, exact resume, schedules and 2-process DDP on CPU."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from cardiolab.train import TrainConfig, engine, fit, load_checkpoint, preset
from cardiolab.train.engine import lr_factor

TESTS = Path(__file__).parent


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


def test_a_mistyped_monitor_fails_at_the_first_validation(tmp_path):
    class Flat(RegressionTask):
        def validate(self, model, loader, device):
            return {"dice": 0.5}

    typo = config(tmp_path, "typo", monitor="val_dcie", monitor_mode="max")
    # The message names the missing key and the keys validation did return.
    with pytest.raises(ValueError, match=r"'val_dcie'.*'val_dice'"):
        fit(tiny_model(), Flat(), tiny_problem(), typo, val_set=tiny_problem(1))
    assert not (tmp_path / "typo" / "best.pt").exists()  # it failed before any checkpoint froze


def cpu_loss_scaler(config, device):
    """An enabled loss scaler on the CPU (the engine scales only CUDA float16 losses).

    Doubling after every good step, it climbs from 2^100 to float32's limit in 27 of the
    run's 48 steps, then keeps overflowing, skipping steps and backing off: the weights
    depend on its state.
    """
    return torch.amp.GradScaler("cpu", init_scale=2.0 ** 100, growth_interval=1)


def test_the_loss_scaler_lives_through_the_run_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "_grad_scaler", cpu_loss_scaler)
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "straight", amp=True))
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "killed", amp=True), stop_after_epochs=2)
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "killed", amp=True), resume=True)
    straight = load_checkpoint(tmp_path / "straight" / "last.pt")  # weights_only: the scaler state is plain values
    resumed = load_checkpoint(tmp_path / "killed" / "last.pt")
    # One scaler for the whole run: it grew for more than one epoch's 8 steps.
    assert straight["scaler"]["scale"] >= 2.0 ** 126
    assert resumed["scaler"] == straight["scaler"]
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    # The skipped steps changed the weights (an unscaled run differs): the comparison above can fail.
    monkeypatch.undo()
    fit(tiny_model(), RegressionTask(), tiny_problem(), config(tmp_path, "unscaled", amp=True))
    unscaled = load_checkpoint(tmp_path / "unscaled" / "last.pt")
    assert unscaled["scaler"] == {}  # bfloat16 on the CPU: the engine's scaler is off
    assert not torch.equal(unscaled["model"]["0.weight"], straight["model"]["0.weight"])


def run_on_two_processes(script, timeout):
    """Run ``script`` under ``torchrun --nproc_per_node 2``; a hang ends torchrun and its workers."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: torchrun passes it on to its workers, which run in sessions of
        # their own; killed outright it would leave them waiting on each other forever.
        process.terminate()
        stdout, stderr = process.communicate(timeout=60)
        pytest.fail(f"the two ranks hung for {timeout} s (waiting on each other?):\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


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
    script.write_text(DDP_SCRIPT.format(tests=str(TESTS), out=str(tmp_path / "ddp")))
    result = run_on_two_processes(script, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ddp_rank0_of_2.ok").is_file() and (tmp_path / "ddp_rank1_of_2.ok").is_file()
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["epoch"] == 2


class RisesThenStalls(RegressionTask):
    """A validation Dice that rises for three epochs, then stays put."""

    def __init__(self):
        self.validations = 0

    def validate(self, model, loader, device):
        self.validations += 1
        return {"dice": min(self.validations, 3) / 10}


DDP_EARLY_STOPPING_SCRIPT = textwrap.dedent("""
    import json, sys, torch.distributed as dist
    sys.path.insert(0, {tests!r})
    from test_train_engine import RisesThenStalls, tiny_model, tiny_problem
    from cardiolab.train import TrainConfig, fit
    cfg = TrainConfig(epochs=20, batch_size=8, lr=0.01, seed=3, out_dir={out!r}, progress=False,
                      early_stopping_patience=2, monitor="val_dice", monitor_mode="max")
    result = fit(tiny_model(), RisesThenStalls(), tiny_problem(), cfg, val_set=tiny_problem(1))
    with open({out!r} + f"_rank{{dist.get_rank()}}.json", "w") as handle:
        json.dump({{"epochs": len(result.history), "stopped_early": result.stopped_early}}, handle)
    dist.destroy_process_group()
""")


@pytest.mark.timeout(300)
def test_ddp_ranks_stop_early_at_the_same_epoch(tmp_path):
    # Only rank 0 validates; rank 1 must follow its verdict, not its own (empty) record.
    script = tmp_path / "ddp_early_stopping.py"
    script.write_text(DDP_EARLY_STOPPING_SCRIPT.format(tests=str(TESTS), out=str(tmp_path / "ddp")))
    result = run_on_two_processes(script, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"ddp_rank{rank}.json").read_text()) for rank in (0, 1)]
    # Dice rises on epochs 0-2, stalls on 3 and 4: patience 2 is spent after epoch 4.
    assert ranks[0] == ranks[1] == {"epochs": 5, "stopped_early": True}
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["epoch"] == 4
