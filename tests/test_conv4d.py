"""Conv4d, Upsample4d and the 6D norms against independent references.

The reference 4D convolution is the naive loop of public pytorch-conv4d code: pad the
sequence in time (written here with torch.cat, not with the layer's frame table), then
for each output frame sum, over the kernel's taps, conv3d(input frame, weight tap).
"""
import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.models.layers import BatchNorm6d, Conv4d, GroupNorm6d, Upsample4d


def pad_time(x, pad, mode):
    """Pad axis 2 of (B, C, T, Z, Y, X) by `pad` frames each side, frame by frame."""
    if pad == 0:
        return x
    if mode == "zeros":
        zeros = torch.zeros_like(x[:, :, :pad])
        return torch.cat([zeros, x, zeros], dim=2)
    if mode == "replicate":
        return torch.cat([x[:, :, :1]] * pad + [x] + [x[:, :, -1:]] * pad, dim=2)
    if mode == "circular":
        return torch.cat([x[:, :, -pad:], x, x[:, :, :pad]], dim=2)
    if mode == "reflect":  # mirror without repeating the edge frame: frames p..1, 0..T-1, T-2..T-1-p
        return torch.cat([x[:, :, 1:pad + 1].flip(2), x, x[:, :, -pad - 1:-1].flip(2)], dim=2)
    raise ValueError(mode)


def naive_conv4d(x, weight, bias, stride, padding, mode):
    padded = pad_time(x, padding[0], mode)
    kernel_t = weight.shape[2]
    n_out = (padded.shape[2] - kernel_t) // stride[0] + 1
    frames = []
    for t in range(n_out):
        total = 0
        for k in range(kernel_t):
            total = total + F.conv3d(padded[:, :, t * stride[0] + k], weight[:, :, k],
                                     stride=stride[1:], padding=padding[1:])
        frames.append(total + bias.view(1, -1, 1, 1, 1))
    return torch.stack(frames, dim=2)


CASES = list(itertools.product(["zeros", "reflect", "replicate", "circular"], [1, 2], [1, 3]))


@pytest.mark.parametrize("mode,stride_t,kernel", CASES)
def test_conv4d_matches_naive_loop_forward_and_backward(mode, stride_t, kernel):
    torch.manual_seed(0)
    pad = kernel // 2
    conv = Conv4d(3, 4, kernel_size=kernel, stride=(stride_t, 1, 1, 1), padding=pad,
                  time_padding=mode).double()
    x = torch.randn(2, 3, 5, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    weight_ref = conv.weight.detach().clone().requires_grad_(True)
    bias_ref = conv.bias.detach().clone().requires_grad_(True)

    y = conv(x)
    y_ref = naive_conv4d(x_ref, weight_ref, bias_ref, conv.stride, conv.padding, mode)
    assert y.shape == y_ref.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)

    grad_out = torch.randn_like(y)
    y.backward(grad_out)
    y_ref.backward(grad_out)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(conv.weight.grad, weight_ref.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(conv.bias.grad, bias_ref.grad, rtol=1e-10, atol=1e-10)


def test_conv4d_anisotropic_kernel_and_spatial_stride_float32():
    torch.manual_seed(1)
    conv = Conv4d(2, 3, kernel_size=(3, 1, 3, 3), stride=(2, 1, 2, 2), padding=(1, 0, 1, 1))
    x = torch.randn(1, 2, 6, 3, 8, 7)
    y = conv(x)
    y_ref = naive_conv4d(x, conv.weight, conv.bias, conv.stride, conv.padding, "zeros")
    assert y.shape == (1, 3, 3, 3, 4, 4)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)


def test_conv4d_equals_pytorch_conv3d_when_one_axis_is_trivial():
    """With Z of size 1 and kz = 1, a 4D convolution over (T, Z, Y, X) is PyTorch's own
    3D convolution over (T, Y, X), zero padding and temporal stride included."""
    torch.manual_seed(2)
    conv = Conv4d(2, 3, kernel_size=(3, 1, 3, 3), stride=(2, 1, 1, 2), padding=(1, 0, 1, 1)).double()
    x = torch.randn(2, 2, 7, 1, 6, 5, dtype=torch.float64)
    expected = F.conv3d(x[:, :, :, 0], conv.weight[:, :, :, 0], conv.bias, stride=(2, 1, 2), padding=(1, 1, 1))
    torch.testing.assert_close(conv(x)[:, :, :, 0], expected)


def test_conv4d_initialisation_uses_full_4d_fan_in():
    torch.manual_seed(3)
    conv = Conv4d(8, 16, kernel_size=3)
    fan_in = 8 * 3 ** 4
    bound = 1 / fan_in ** 0.5  # kaiming_uniform(a=sqrt(5)) gives bound sqrt(6 / ((1 + 5) fan_in))
    assert conv.weight.shape == (16, 8, 3, 3, 3, 3)
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound  # 10368 uniform draws reach near the bound
    assert conv.bias.abs().max() <= bound


def test_conv4d_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="time_padding"):
        Conv4d(1, 1, time_padding="mirror")
    with pytest.raises(TypeError, match="kernel_size"):
        Conv4d(1, 1, kernel_size=(3, 3, 3))
    with pytest.raises(ValueError, match="stride"):
        Conv4d(1, 1, stride=0)
    with pytest.raises(ValueError, match="in_channels"):
        Conv4d(0, 1)
    with pytest.raises(ValueError, match="in_channels=2"):
        Conv4d(2, 1)(torch.zeros(1, 3, 2, 2, 2, 2))
    with pytest.raises(ValueError, match="6D"):
        Conv4d(2, 1)(torch.zeros(1, 2, 2, 2, 2))


def test_upsample4d_repeats_each_voxel_per_axis():
    x = torch.randn(2, 3, 2, 3, 4, 5, requires_grad=True)
    y = Upsample4d((2, 1, 3, 2))(x)
    expected = x
    for axis, factor in zip(range(2, 6), (2, 1, 3, 2)):
        expected = expected.repeat_interleave(factor, dim=axis)
    torch.testing.assert_close(y, expected)
    y.sum().backward()  # each input voxel was copied 2 * 1 * 3 * 2 times
    torch.testing.assert_close(x.grad, torch.full_like(x, 12.0))


def test_groupnorm6d_statistics_per_group_over_time_and_space():
    torch.manual_seed(4)
    x = torch.randn(2, 4, 3, 2, 3, 4) * 5 + 2
    y = GroupNorm6d(2, 4, eps=1e-5)(x)
    groups = x.reshape(2, 2, -1)  # (B, groups, C/G * T * Z * Y * X)
    variance = groups.var(-1, unbiased=False, keepdim=True)
    expected = (groups - groups.mean(-1, keepdim=True)) / torch.sqrt(variance + 1e-5)
    torch.testing.assert_close(y, expected.reshape(x.shape), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="6D"):
        GroupNorm6d(2, 4)(torch.randn(2, 4, 3, 3, 3))


def test_batchnorm6d_equals_batchnorm3d_with_time_merged_into_z():
    torch.manual_seed(5)
    x = torch.randn(3, 4, 2, 3, 4, 5) * 3 - 1
    norm6, norm3 = BatchNorm6d(4), nn.BatchNorm3d(4)
    y6 = norm6(x)
    y3 = norm3(x.reshape(3, 4, 6, 4, 5)).reshape(x.shape)
    torch.testing.assert_close(y6, y3)
    torch.testing.assert_close(norm6.running_var, norm3.running_var)
    norm6.eval()
    norm3.eval()
    torch.testing.assert_close(norm6(x), norm3(x.reshape(3, 4, 6, 4, 5)).reshape(x.shape))
    with pytest.raises(ValueError, match="6D"):
        norm6(torch.randn(3, 4, 2, 3, 4))
