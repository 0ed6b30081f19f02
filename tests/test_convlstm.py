"""StructuredConvLSTMCell against a hand-written ConvLSTM, with other operators, through time."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cardiolab.models.layers import StructuredConvLSTMCell
from cardiolab.models.layers.convlstm import StructuredConvLSTM


def _hand_written_convlstm_step(x, h, c, w_x, b_x, w_h):
    """Shi et al.'s ConvLSTM step written gate by gate, gates stored (i, f, o, g)."""
    hidden = h.shape[1]
    pre = F.conv2d(x, w_x, b_x, padding=1) + F.conv2d(h, w_h, None, padding=1)
    i = torch.sigmoid(pre[:, 0 * hidden:1 * hidden])
    f = torch.sigmoid(pre[:, 1 * hidden:2 * hidden])
    o = torch.sigmoid(pre[:, 2 * hidden:3 * hidden])
    g = torch.tanh(pre[:, 3 * hidden:4 * hidden])
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def test_equals_hand_written_convlstm_over_several_steps():
    torch.manual_seed(0)
    hidden = 3
    conv_x = nn.Conv2d(2, 4 * hidden, 3, padding=1)
    conv_h = nn.Conv2d(hidden, 4 * hidden, 3, padding=1, bias=False)
    cell = StructuredConvLSTMCell(conv_x, conv_h, hidden)
    sequence = torch.randn(4, 2, 2, 6, 5)  # (T, B, C, Y, X)
    h = c = torch.zeros(2, hidden, 6, 5)
    state = None
    for x in sequence:
        h, c = _hand_written_convlstm_step(x, h, c, conv_x.weight, conv_x.bias, conv_h.weight)
        out, state = cell(x, state)
        assert torch.allclose(out, h, atol=1e-6)
        assert torch.allclose(state[1], c, atol=1e-6)
    assert torch.equal(out, state[0])


def test_gate_bias_is_added_per_gate():
    torch.manual_seed(1)
    hidden = 2
    cell = StructuredConvLSTMCell(nn.Conv2d(1, 4 * hidden, 1), nn.Conv2d(hidden, 4 * hidden, 1), hidden)
    with torch.no_grad():
        for conv in (cell.input_operator, cell.hidden_operator):
            conv.weight.zero_()
            conv.bias.zero_()
        cell.gate_bias.copy_(torch.tensor([50.0, 50.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.3]))  # i, f, o, g
    h, (_, c) = cell(torch.randn(1, 1, 2, 2))
    # from c = 0: c = sigmoid(50) * tanh(0.3) = tanh(0.3); h = sigmoid(0) * tanh(c)
    assert torch.allclose(c, torch.full_like(c, torch.tanh(torch.tensor(0.3)).item()), atol=1e-6)
    assert torch.allclose(h, 0.5 * torch.tanh(c), atol=1e-6)


def test_non_conv_operators_classic_lstm():
    """With linear operators the cell is the classic LSTM: compare with nn.LSTMCell."""
    torch.manual_seed(2)
    hidden = 5
    reference = nn.LSTMCell(3, hidden)
    # nn.LSTMCell orders gates (i, f, g, o); ours are (i, f, o, g)
    order = torch.cat([torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden),
                       torch.arange(2 * hidden, 3 * hidden)])
    psi_x = nn.Linear(3, 4 * hidden)
    psi_h = nn.Linear(hidden, 4 * hidden)
    with torch.no_grad():
        psi_x.weight.copy_(reference.weight_ih[order])
        psi_x.bias.copy_(reference.bias_ih[order])
        psi_h.weight.copy_(reference.weight_hh[order])
        psi_h.bias.copy_(reference.bias_hh[order])
    cell = StructuredConvLSTMCell(psi_x, psi_h, hidden)
    state, ref_state = None, None
    for x in torch.randn(3, 4, 3):
        h, state = cell(x, state)
        ref_state = reference(x, ref_state)
        assert torch.allclose(h, ref_state[0], atol=1e-6)
        assert torch.allclose(state[1], ref_state[1], atol=1e-6)


def test_block_operator_that_changes_spatial_size():
    """Psi_x may be a small FCN block (conv-relu-conv with a pooling); the state follows its size."""
    hidden = 4
    psi_x = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 4 * hidden, 3, padding=1))
    cell = StructuredConvLSTMCell(psi_x, nn.Conv2d(hidden, 4 * hidden, 3, padding=1), hidden)
    h, (h2, c) = cell(torch.randn(2, 1, 8, 6))
    assert h.shape == c.shape == (2, hidden, 4, 3)
    with pytest.raises(ValueError, match="4 gates"):
        StructuredConvLSTMCell(nn.Conv2d(1, 5, 1), nn.Conv2d(2, 8, 1), 2)(torch.randn(1, 1, 3, 3))


def test_gradient_flows_back_through_time():
    torch.manual_seed(3)
    hidden = 2
    cell = StructuredConvLSTMCell(nn.Conv2d(1, 4 * hidden, 3, padding=1),
                                  nn.Conv2d(hidden, 4 * hidden, 3, padding=1), hidden)
    frames = torch.randn(5, 1, 1, 4, 4, requires_grad=True)
    state = None
    for frame in frames:
        h, state = cell(frame, state)
    h.sum().backward()  # loss on the last output only
    grad_per_frame = frames.grad.abs().flatten(1).sum(1)
    assert (grad_per_frame > 0).all(), grad_per_frame  # the first frame still gets a gradient


def test_bidirectional_layer_reads_the_sequence_backwards():
    torch.manual_seed(4)
    hidden = 2

    def make_cell():
        return StructuredConvLSTMCell(nn.Conv2d(1, 4 * hidden, 3, padding=1),
                                      nn.Conv2d(hidden, 4 * hidden, 3, padding=1), hidden)

    forward_cell, backward_cell = make_cell(), make_cell()
    layer = StructuredConvLSTM(forward_cell, backward_cell)
    x = torch.randn(2, 1, 4, 5, 5)  # (B, C, T, Y, X)
    out = layer(x)
    assert out.shape == (2, 2 * hidden, 4, 5, 5) and layer.out_channels == 2 * hidden
    # the backward half at the last frame has seen only the last frame
    last_only, _ = backward_cell(x[:, :, -1])
    assert torch.allclose(out[:, hidden:, -1], last_only, atol=1e-6)
    # the forward half equals the forward-only layer
    assert torch.allclose(out[:, :hidden], StructuredConvLSTM(forward_cell)(x), atol=1e-6)
    # reversing the input in time swaps the roles of the two directions
    swapped = StructuredConvLSTM(backward_cell, forward_cell)(x.flip(2)).flip(2)
    assert torch.allclose(torch.cat([swapped[:, hidden:], swapped[:, :hidden]], 1), out, atol=1e-6)
