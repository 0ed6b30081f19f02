"""unet3d_thesis (thesis Ch. 5): shapes, paper parameter count, slice mixing, learning."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab import BACKGROUND, LV_CAVITY, LV_MYOCARDIUM, RV_CAVITY, models
from cardiolab.models.blocks import parameter_count

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
PAPER_PARAMETERS = 87.51e6  # thesis Sec. 5.3.2


def heart_phantom(batch: int, size: int = 32, slices: int = 3, seed: int = 0):
    """Image stacks with an LV cavity disk inside a myocardium ring and an RV disk beside it."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    images = torch.empty(batch, 1, slices, size, size)
    labels = torch.zeros(batch, slices, size, size, dtype=torch.long)
    for b in range(batch):
        cy, cx = (size * (0.4 + 0.2 * torch.rand(2, generator=generator))).tolist()
        for z in range(slices):
            cavity_r = size * (0.10 + 0.06 * torch.rand(1, generator=generator).item())
            radius = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
            rv_radius = torch.sqrt((yy - cy) ** 2 + (xx - cx + 2.4 * cavity_r + 2) ** 2)
            label = torch.full((size, size), BACKGROUND, dtype=torch.long)
            label[rv_radius < cavity_r] = RV_CAVITY
            label[radius < cavity_r + 3] = LV_MYOCARDIUM
            label[radius < cavity_r] = LV_CAVITY
            labels[b, z] = label
    intensity = torch.tensor([0.1, 0.9, 0.4, 0.7])  # background, LV cavity, myocardium, RV cavity
    images[:, 0] = intensity[labels] + 0.05 * torch.randn(labels.shape, generator=generator)
    return images, labels


def test_small_model_shapes_and_registry():
    net = models.create("unet3d_thesis", size="small").to(DEVICE)
    images, _ = heart_phantom(batch=2)
    logits = net(images.to(DEVICE))
    assert logits.shape == (2, 4, 3, 32, 32)
    assert logits.device.type == DEVICE.type
    assert net.model_name == "unet3d_thesis"
    assert models.spec("unet3d_thesis").task == "segmentation"


def test_paper_parameter_count_matches_thesis_within_1_percent():
    with torch.device("meta"):
        net = models.create("unet3d_thesis", size="paper")
    count = parameter_count(net)
    assert abs(count - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.01, count


def test_three_by_three_by_three_kernels_mix_neighbouring_slices():
    net = models.create("unet3d_thesis", size="small").to(DEVICE).eval()
    images, _ = heart_phantom(batch=1)
    changed = images.clone()
    changed[:, :, 0] += 1.0  # perturb the first slice only
    with torch.no_grad():
        difference = (net(changed.to(DEVICE)) - net(images.to(DEVICE))).abs()
    assert difference[:, :, 1].max() > 1e-4  # a 3x3x3 network sees the neighbouring slice


def test_rejects_plane_not_divisible_by_16():
    net = models.create("unet3d_thesis", size="small")
    with pytest.raises(ValueError, match="image"):
        net(torch.zeros(1, 1, 3, 40, 40))


def test_learns_to_segment_phantom():
    torch.manual_seed(0)
    net = models.create("unet3d_thesis", size="small").to(DEVICE)
    images, labels = heart_phantom(batch=2, seed=1)
    images, labels = images.to(DEVICE), labels.to(DEVICE)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(net(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1])
    assert losses[-1] < 0.5 * losses[0], losses
