"""DeformConv2d against plain convolution and an independent per-pixel reference."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab.models.layers import DeformConv2d
from cardiolab.models.layers.deformable import DeformableConvBlock


def _torchvision_bilinear(image, y, x):
    """torchvision's bilinear_interpolate (deform_conv2d kernel), written out per point."""
    height, width = image.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return 0.0
    y_low, x_low = math.floor(y), math.floor(x)
    ly, lx = y - y_low, x - x_low
    value = 0.0
    for yy, wy in ((y_low, 1 - ly), (y_low + 1, ly)):
        for xx, wx in ((x_low, 1 - lx), (x_low + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                value += wy * wx * float(image[yy, xx])
    return value


def _reference_deform_conv(x, weight, bias, offset, mask, stride, padding, dilation, groups):
    """Loop-per-output-pixel deformable convolution with torchvision's conventions."""
    batch, channels, _, _ = x.shape
    out_channels, _, kh, kw = weight.shape
    out_h, out_w = offset.shape[2:]
    per_group = channels // groups
    out = torch.zeros(batch, out_channels, out_h, out_w, dtype=torch.float64)
    for b in range(batch):
        for c in range(channels):
            g = c // per_group
            for i in range(kh):
                for j in range(kw):
                    k = i * kw + j
                    for oy in range(out_h):
                        for ox in range(out_w):
                            dy = float(offset[b, 2 * (g * kh * kw + k), oy, ox])
                            dx = float(offset[b, 2 * (g * kh * kw + k) + 1, oy, ox])
                            y = oy * stride - padding + i * dilation + dy
                            xpos = ox * stride - padding + j * dilation + dx
                            value = _torchvision_bilinear(x[b, c], y, xpos)
                            if mask is not None:
                                value *= float(mask[b, g * kh * kw + k, oy, ox])
                            out[b, :, oy, ox] += weight[:, c, i, j].double() * value
    return out + bias.double().view(1, -1, 1, 1)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [(3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2),
                                                               ((3, 5), 1, (1, 2), 1), (1, 1, 0, 1)])
def test_zero_offsets_equal_plain_conv(kernel, stride, padding, dilation):
    torch.manual_seed(0)
    layer = DeformConv2d(3, 4, kernel, stride, padding, dilation)
    x = torch.randn(2, 3, 9, 11)
    expected = F.conv2d(x, layer.weight, layer.bias, stride, padding, dilation)
    offset = torch.zeros(2, 2 * layer.taps, *expected.shape[2:])
    assert torch.allclose(layer(x, offset), expected, atol=1e-5)


def test_integer_offset_equals_shifted_conv():
    """Integer offsets move the sampling grid: conv of the zero-padded input, shifted, zero-filled."""
    torch.manual_seed(1)
    layer = DeformConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 7, 8)
    padded = F.pad(x, (1, 1, 1, 1))  # the conv's own zero padding

    offset = torch.zeros(1, 2 * 9, 7, 8)
    offset[:, 1::2] = 1.0  # every tap reads one column to the right: (dy, dx) = (0, 1)
    shifted = torch.zeros_like(padded)
    shifted[..., :-1] = padded[..., 1:]  # moved one column left, last column zero
    expected = F.conv2d(shifted, layer.weight, layer.bias)
    assert torch.allclose(layer(x, offset), expected, atol=1e-5)

    offset = torch.zeros(1, 2 * 9, 7, 8)
    offset[:, 0::2] = -2.0  # (dy, dx) = (-2, 0): every tap reads two rows up
    shifted = torch.zeros_like(padded)
    shifted[..., 2:, :] = padded[..., :-2, :]
    expected = F.conv2d(shifted, layer.weight, layer.bias)
    assert torch.allclose(layer(x, offset), expected, atol=1e-5)


def test_fractional_offsets_mask_and_groups_match_reference():
    torch.manual_seed(2)
    layer = DeformConv2d(4, 3, 3, stride=1, padding=1, dilation=1, offset_groups=2).double()
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64)
    # large offsets so that many samples fall partly or wholly outside the image
    offset = 2.5 * torch.randn(1, 2 * 2 * 9, 5, 6, dtype=torch.float64)
    mask = torch.rand(1, 2 * 9, 5, 6, dtype=torch.float64)
    expected = _reference_deform_conv(x, layer.weight.detach(), layer.bias.detach(), offset, mask, 1, 1, 1, 2)
    assert torch.allclose(layer(x, offset, mask).detach(), expected, atol=1e-10)


def test_strided_dilated_fractional_offsets_match_reference():
    torch.manual_seed(3)
    layer = DeformConv2d(2, 2, 3, stride=2, padding=2, dilation=2).double()
    x = torch.randn(2, 2, 7, 6, dtype=torch.float64)
    out_h, out_w = layer.output_size(7, 6)
    offset = torch.randn(2, 18, out_h, out_w, dtype=torch.float64)
    expected = _reference_deform_conv(x, layer.weight.detach(), layer.bias.detach(), offset, None, 2, 2, 2, 1)
    assert torch.allclose(layer(x, offset).detach(), expected, atol=1e-10)


def test_gradients_reach_input_offsets_and_mask():
    torch.manual_seed(4)
    layer = DeformConv2d(2, 2, 3).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    # keep sampling points away from integer positions, where bilinear is not differentiable
    offset = (0.3 + 0.4 * torch.rand(1, 18, 4, 4, dtype=torch.float64)).requires_grad_()
    mask = torch.rand(1, 9, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: layer(a, b, c), (x, offset, mask))


def test_block_starts_as_plain_conv_and_learns_offsets():
    torch.manual_seed(5)
    block = DeformableConvBlock(3, 4, modulated=False)
    x = torch.randn(2, 3, 6, 6)
    expected = F.conv2d(x, block.conv.weight, block.conv.bias, padding=1)
    assert torch.allclose(block(x), expected, atol=1e-5)
    block(x).square().sum().backward()
    assert block.offset_conv.weight.grad.abs().sum() > 0

    modulated = DeformableConvBlock(3, 4, modulated=True)
    expected = F.conv2d(x, modulated.conv.weight, None, padding=1) * 0.5 + modulated.conv.bias.view(1, -1, 1, 1)
    assert torch.allclose(modulated(x), expected, atol=1e-5)  # sigmoid(0) = 0.5 mask at init


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="offset_groups"):
        DeformConv2d(3, 4, offset_groups=2)
    layer = DeformConv2d(2, 2)
    with pytest.raises(ValueError, match="offset"):
        layer(torch.zeros(1, 2, 5, 5), torch.zeros(1, 9, 5, 5))
    with pytest.raises(ValueError, match="x must be"):
        layer(torch.zeros(1, 3, 5, 5), torch.zeros(1, 18, 5, 5))
