"""One test over every registered model (timm style): it builds, runs, and declares itself."""
import pytest
import torch

from cardiolab import models

# A small input per model, in the layout its spec declares. A new model must add one.
EXAMPLE_INPUTS = {
    "deunet": lambda: ((torch.randn(1, 1, 3, 32, 32),), {}),
    "esed_detector": lambda: ((torch.randn(1, 1, 6, 64, 64),), {}),
    "fcslstm": lambda: ((torch.randn(1, 1, 3, 32, 32),), {}),
    "lv_volume_weak": lambda: ((torch.rand(1, 1, 3, 32, 32), (10.0, 2.0, 2.0)), {}),
    "pspunet": lambda: ((torch.randn(1, 1, 3, 32, 32),), {}),
    "stcnn_lvquan": lambda: ((torch.randn(1, 1, 5, 80, 80),), {}),
    "unet3d_ccta": lambda: ((torch.randn(1, 1, 16, 16, 16),), {}),
    "unet3d_thesis": lambda: ((torch.randn(1, 1, 3, 32, 32),), {}),
    "unet4d": lambda: ((torch.randn(1, 1, 4, 8, 16, 16),), {}),
}


def test_every_paper_model_is_registered_and_has_an_example():
    expected = {"unet4d", "unet3d_ccta", "stcnn_lvquan", "deunet", "unet3d_thesis", "pspunet", "lv_volume_weak",
                "esed_detector", "fcslstm"}
    assert expected <= set(models.available())
    assert set(models.available()) == set(EXAMPLE_INPUTS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_INPUTS))
def test_model_declares_its_paper_and_runs_without_nan(name):
    spec = models.spec(name)
    assert spec.paper and spec.task and spec.input_layout and spec.output_layout
    assert set(spec.configs) == {"small", "paper"}
    torch.manual_seed(0)
    model = models.create(name, size="small").eval()
    assert model.model_name == name and model.config is not None
    args, kwargs = EXAMPLE_INPUTS[name]()
    with torch.no_grad():
        output = model(*args, **kwargs)
    tensors = output.values() if isinstance(output, dict) else [output]
    for tensor in tensors:
        if torch.is_tensor(tensor):
            assert torch.isfinite(tensor).all(), f"{name} produced NaN/inf"


def test_unknown_names_and_options_are_explained():
    with pytest.raises(KeyError, match="unet4d"):
        models.create("no_such_model")
    with pytest.raises(TypeError, match="no option"):
        models.create("pspunet", not_an_option=3)
    with pytest.raises(ValueError, match="sizes"):
        models.create("pspunet", size="huge")
