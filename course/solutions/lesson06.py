"""Reference solutions of lesson 6, "Learning from sparse labels" (loaded only with ``use_solutions=True``)."""
import torch


def soft_dice_loss(prob, target_one_hot, eps=1e-5):
    axes = (1, 2, 3)  # sum over the voxels of each class
    overlap = (prob * target_one_hot).sum(axes)
    squares = (prob**2).sum(axes) + (target_one_hot**2).sum(axes)
    return 1 - (2 * overlap + eps) / (squares + eps)


def smoothness_term(prob):
    difference = prob[:, :, 1:] - prob[:, :, :-1]  # (B, C, T-1, Z, Y, X)
    per_pair = difference.pow(2).mean(dim=(1, 3, 4, 5))  # mean over classes and voxels: (B, T-1)
    return per_pair.sum(dim=1).mean()


def labelled_mask(n_frames, ed_frame_1based, es_frame_1based):
    labelled = torch.zeros(1, n_frames, dtype=torch.bool)
    labelled[0, ed_frame_1based - 1] = True  # Info.cfg is 1-based
    labelled[0, es_frame_1based - 1] = True
    return labelled
