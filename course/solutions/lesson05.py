"""Reference solutions of lesson 5, "Using time" (loaded only with ``use_solutions=True``)."""
import torch
import torch.nn.functional as F


def conv4d_output_shape(input_shape, out_channels, kernel_size, stride, padding):
    batch = input_shape[0]
    sizes = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(input_shape[2:], kernel_size, stride, padding)]
    return (batch, out_channels, *sizes)


def conv4d_by_hand(layer, x, frame):
    kernel_t, pad_t = layer.kernel_size[0], layer.padding[0]
    out = 0
    for k in range(kernel_t):
        source = frame + k - pad_t  # tap k reads this input frame
        if 0 <= source < x.shape[2]:  # outside the sequence: zero padding adds nothing
            out = out + F.conv3d(x[:, :, source], layer.weight[:, :, k], None, layer.stride[1:], layer.padding[1:])
    return out + layer.bias.view(1, -1, 1, 1, 1)


def convlstm_memory(model, sequence, changed_frame):
    model.eval()
    with torch.no_grad():
        changed = sequence.clone()
        changed[:, :, changed_frame] += 1.0
        difference = (model(changed) - model(sequence)).abs().amax(dim=(0, 1, 3, 4))  # one value per frame
    return [int(t) for t in torch.nonzero(difference > 1e-6).flatten()]


def deform_offsets(layer, x, shift_px):
    out_h, out_w = layer.output_size(*x.shape[-2:])
    offsets = torch.zeros(x.shape[0], 2 * layer.taps, out_h, out_w)
    offsets[:, 1::2] = shift_px  # channel 2k = dy, 2k + 1 = dx of tap k
    return offsets
