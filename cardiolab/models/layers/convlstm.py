"""The structured LSTM cell of FCSLSTM [seed 004, Sec. 2.2, Eq. (1)], and a layer that runs it over time.

An LSTM keeps a memory ``c`` and an output ``h``. At each step four gates are computed
from the new input ``x_t`` and the previous output ``h_{t-1}``::

    i_t = sigmoid(Psi_xi(x_t) + Psi_hi(h_{t-1}) + b_i)     input gate
    f_t = sigmoid(Psi_xf(x_t) + Psi_hf(h_{t-1}) + b_f)     forget gate
    o_t = sigmoid(Psi_xo(x_t) + Psi_ho(h_{t-1}) + b_o)     output gate
    g_t =    tanh(Psi_xg(x_t) + Psi_hg(h_{t-1}) + b_g)     candidate memory
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

If ``Psi`` is a matrix product this is the classic LSTM; if it is a convolution it is the
ConvLSTM of Shi et al. The paper's generalisation ("structured" LSTM) lets ``Psi`` be any
operator, e.g. a whole VGG block ``conv+relu+conv+relu``: only that block's output is then
kept in the LSTM memory, which is what makes a deep stack of them affordable.

Implementation choices (the paper is silent on them):

* The four ``Psi_x*`` are one module whose output has ``4 * hidden`` channels, split in
  the order ``(i, f, o, g)``; likewise ``Psi_h*``. Stacking the gates is equivalent to four
  separate operators whose last layer is linear, and four times cheaper to call.
* The explicit biases ``b`` of Eq. (1) are one learnable vector of ``4 * hidden`` values
  (``bias=True``), initialised to zero; the operators may carry biases of their own.
* The initial state is zero, with the spatial size of ``Psi_x(x_0)`` (the operator may
  change the size, e.g. include a pooling).
"""
from __future__ import annotations

import torch
import torch.nn as nn


class StructuredConvLSTMCell(nn.Module):
    """One step of the structured LSTM, Eq. (1) of seed 004.

    Args:
        input_operator: Psi_x, maps ``x_t (B, C_in, ...)`` to ``(B, 4 * hidden_channels, ...)``.
        hidden_operator: Psi_h, maps ``h_{t-1} (B, hidden_channels, ...)`` to the same shape as Psi_x's output.
        hidden_channels: channels of ``h`` and ``c``.
        bias: add the learnable gate biases ``b_i, b_f, b_o, b_g`` of Eq. (1).

    ``forward(x, state=None) -> (h, (h, c))``; ``state`` is ``(h_{t-1}, c_{t-1})`` or None (zeros).
    """

    def __init__(self, input_operator: nn.Module, hidden_operator: nn.Module, hidden_channels: int,
                 bias: bool = True):
        super().__init__()
        if not isinstance(input_operator, nn.Module) or not isinstance(hidden_operator, nn.Module):
            raise TypeError("input_operator and hidden_operator must be nn.Module instances")
        if hidden_channels < 1:
            raise ValueError(f"hidden_channels must be >= 1, got {hidden_channels}")
        self.input_operator = input_operator    # Psi_x
        self.hidden_operator = hidden_operator  # Psi_h
        self.hidden_channels = hidden_channels
        self.gate_bias = nn.Parameter(torch.zeros(4 * hidden_channels)) if bias else None

    def initial_state(self, gates_from_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) shaped like one gate of ``gates_from_input``."""
        shape = (gates_from_input.shape[0], self.hidden_channels, *gates_from_input.shape[2:])
        zeros = gates_from_input.new_zeros(shape)
        return zeros, zeros

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        gates = self.input_operator(x)  # Psi_x(x_t): (B, 4*hidden, ...)
        if gates.shape[1] != 4 * self.hidden_channels:
            raise ValueError(f"input_operator must give {4 * self.hidden_channels} channels "
                             f"(4 gates x hidden_channels), gave {gates.shape[1]}")
        hidden, cell = self.initial_state(gates) if state is None else state
        gates = gates + self.hidden_operator(hidden)  # + Psi_h(h_{t-1}), [seed 004] Eq. (1)
        if self.gate_bias is not None:
            gates = gates + self.gate_bias.view(1, -1, *([1] * (gates.dim() - 2)))
        input_gate, forget_gate, output_gate, candidate = gates.chunk(4, dim=1)
        input_gate, forget_gate, output_gate = input_gate.sigmoid(), forget_gate.sigmoid(), output_gate.sigmoid()
        candidate = candidate.tanh()
        cell = forget_gate * cell + input_gate * candidate  # c_t = f * c_{t-1} + i * g
        hidden = output_gate * cell.tanh()                  # h_t = o * tanh(c_t)
        return hidden, (hidden, cell)


class StructuredConvLSTM(nn.Module):
    """Runs structured LSTM cells over the time axis of a ``(B, C, T, ...)`` tensor.

    With one cell the sequence is read forwards. With a ``backward_cell`` too, the layer is
    bidirectional (Schuster and Paliwal's BRNN, used by FCSLSTM [seed 004, Sec. 2.3]): the
    second cell reads the sequence from the last frame to the first, and the two hidden
    sequences are concatenated along channels, forward first.

    ``forward(x (B, C, T, ...)) -> (B, hidden * directions, T, ...)``.
    """

    def __init__(self, forward_cell: StructuredConvLSTMCell, backward_cell: StructuredConvLSTMCell | None = None):
        super().__init__()
        self.forward_cell = forward_cell
        self.backward_cell = backward_cell

    @property
    def out_channels(self) -> int:
        directions = 1 if self.backward_cell is None else 2
        return self.forward_cell.hidden_channels * directions

    @staticmethod
    def _scan(cell: StructuredConvLSTMCell, frames: list[torch.Tensor]) -> list[torch.Tensor]:
        state, outputs = None, []
        for frame in frames:  # the recurrence is sequential in time by nature
            hidden, state = cell(frame, state)
            outputs.append(hidden)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"x must be (B, C, T, ...), got shape {tuple(x.shape)}")
        frames = list(x.unbind(dim=2))  # T tensors (B, C, ...)
        hidden = torch.stack(self._scan(self.forward_cell, frames), dim=2)  # (B, hidden, T, ...)
        if self.backward_cell is None:
            return hidden
        backward = self._scan(self.backward_cell, frames[::-1])[::-1]  # re-ordered to forward time
        return torch.cat([hidden, torch.stack(backward, dim=2)], dim=1)
