"""Losses: zero at the perfect prediction, positive otherwise, differentiable, and equal to
independent references (MONAI, torch's own cross-entropy, hand formulas)."""
import math

import pytest
import torch
import torch.nn.functional as F

from cardiolab.losses import (ClassWeightedCrossEntropy, GeneralisedDiceLoss, LVQuanLoss, MeanDiceLoss, SparseDiceTemporalLoss,
                              WeakVolumeLoss, WeightedEventCrossEntropy, WeightedEventDiceLoss, inverse_frequency_weights)
from cardiolab.models.layers import ScanningModule

torch.manual_seed(0)


def one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(labels.long(), n_classes).movedim(-1, 1).float()


def assert_differentiable(loss: torch.Tensor, tensor: torch.Tensor) -> None:
    loss.backward()
    assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


# --- [seed 000] sparse Dice + temporal smoothness --------------------------------------------
def sequence_case():
    labels = torch.randint(0, 3, (2, 5, 2, 6, 6))  # (B, T, Z, Y, X)
    labelled = torch.tensor([[True, False, False, True, False], [False, True, False, False, False]])
    return labels, labelled


def test_sparse_dice_is_zero_at_perfect_static_prediction():
    labels = torch.randint(0, 3, (1, 1, 2, 6, 6)).expand(1, 4, 2, 6, 6)  # the same labels on every frame
    prob = one_hot(labels, 3)  # (B, C, T, Z, Y, X)
    loss = SparseDiceTemporalLoss(from_logits=False)(prob, labels, torch.tensor([[True, False, True, False]]))
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_sparse_dice_matches_monai_dice_loss_on_labelled_frames():
    monai_losses = pytest.importorskip("monai.losses")
    labels, labelled = sequence_case()
    logits = torch.randn(2, 3, 5, 2, 6, 6)
    ours = SparseDiceTemporalLoss(smoothness_weight=0.0, eps=1e-5)(logits, labels, labelled)
    reference = monai_losses.DiceLoss(softmax=True, squared_pred=True, smooth_nr=1e-5, smooth_dr=1e-5)
    expected = sum(reference(logits[b, :, t][None], one_hot(labels[b, t][None], 3)) for b, t in labelled.nonzero().tolist()) / 2
    assert ours.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sparse_dice_ignores_unlabelled_frames_without_smoothness():
    labels, labelled = sequence_case()
    logits = torch.randn(2, 3, 5, 2, 6, 6)
    changed = logits.clone()
    changed[0, :, 1] += 5 * torch.randn_like(changed[0, :, 1])  # frame 1 of sequence 0 is unlabelled
    filled = labels.clone()
    filled[0, 2] = 255  # the fill of an unlabelled frame is never read
    no_smoothing = SparseDiceTemporalLoss(smoothness_weight=0.0)
    assert no_smoothing(changed, filled, labelled).item() == pytest.approx(no_smoothing(logits, labels, labelled).item(), abs=1e-7)
    with_smoothing = SparseDiceTemporalLoss(smoothness_weight=1.0)
    assert with_smoothing(changed, labels, labelled).item() != pytest.approx(with_smoothing(logits, labels, labelled).item())


@pytest.mark.parametrize("norm", ["mean_squared", "squared", "l2"])
def test_smoothness_term_by_hand_and_gradients_reach_unlabelled_frames(norm):
    prob = torch.zeros(1, 2, 3, 1, 1, 2)  # (B, C, T, Z, Y, X), 2 voxels
    prob[:, 0] = 1.0
    prob[0, :, 1, 0, 0, 0] = torch.tensor([0.0, 1.0])  # voxel 0 flips class at frame 1 and back
    per_pair_sum_of_squares = 2.0  # (1 - 0)^2 + (0 - 1)^2 for one voxel
    expected = {"mean_squared": 2 * per_pair_sum_of_squares / 4, "squared": 2 * per_pair_sum_of_squares,
                "l2": 2 * math.sqrt(per_pair_sum_of_squares)}[norm]
    loss = SparseDiceTemporalLoss(smoothness_norm=norm, from_logits=False)
    assert loss.smoothness_term(prob).item() == pytest.approx(expected, rel=1e-5)
    logits = torch.randn(1, 3, 4, 1, 4, 4, requires_grad=True)
    labels = torch.randint(0, 3, (1, 4, 1, 4, 4))
    SparseDiceTemporalLoss(smoothness_norm=norm)(logits, labels, torch.tensor([[True, False, False, False]])).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[:, :, 2].abs().sum() > 0  # an unlabelled frame learns


# --- [thesis] Ch. 5 generalised Dice ------------------------------------------------------
def test_generalised_dice_zero_when_perfect_positive_otherwise_and_differentiable():
    labels = torch.randint(0, 4, (2, 3, 8, 8))
    loss = GeneralisedDiceLoss(from_logits=False)
    assert loss(one_hot(labels, 4), labels).item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.randn(2, 4, 3, 8, 8, requires_grad=True)
    value = GeneralisedDiceLoss()(logits, labels)
    assert value.item() > 0.1
    assert_differentiable(value, logits)


def test_generalised_dice_matches_monai_with_uniform_weights_and_hand_formula_with_thesis_weights():
    monai_losses = pytest.importorskip("monai.losses")
    labels = torch.randint(0, 4, (2, 3, 8, 8))
    logits = torch.randn(2, 4, 3, 8, 8)
    reference = monai_losses.GeneralizedDiceLoss(softmax=True, w_type="uniform", smooth_nr=1e-5, smooth_dr=1e-5)
    ours = GeneralisedDiceLoss(class_weights=(1, 1, 1, 1))(logits, labels)
    assert ours.item() == pytest.approx(reference(logits, one_hot(labels, 4)).item(), rel=1e-5)
    prob, truth, w = logits.softmax(1), one_hot(labels, 4), torch.tensor([0.1, 0.3, 0.3, 0.3])
    per_sample = [1 - 2 * (w * (truth[b] * prob[b]).sum((1, 2, 3))).sum() / (w * (truth[b] + prob[b]).sum((1, 2, 3))).sum()
                  for b in range(2)]
    assert GeneralisedDiceLoss()(logits, labels).item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-5)


def test_mean_dice_matches_monai_batch_dice_without_background_and_weighs_a_thin_structure_fully():
    monai_losses = pytest.importorskip("monai.losses")
    labels = torch.randint(0, 4, (2, 3, 8, 8))
    logits = torch.randn(2, 4, 3, 8, 8, requires_grad=True)
    reference = monai_losses.DiceLoss(softmax=True, include_background=False, batch=True, smooth_nr=1e-5, smooth_dr=1e-5)
    value = MeanDiceLoss()(logits, labels)
    assert value.item() == pytest.approx(reference(logits, one_hot(labels, 4)).item(), rel=1e-5)
    assert_differentiable(value, logits)
    assert MeanDiceLoss(from_logits=False)(one_hot(labels, 4), labels).item() == pytest.approx(0.0, abs=1e-6)
    # a thin ring (class 2) missed entirely, the two large structures perfect
    truth = torch.zeros(1, 32, 32, dtype=torch.long)
    truth[:, 4:14, 4:14], truth[:, 18:30, 18:30], truth[:, 3, 3:15] = 1, 3, 2
    prediction = one_hot(torch.where(truth == 2, 0, truth), 4)
    assert MeanDiceLoss(from_logits=False)(prediction, truth).item() == pytest.approx(1 / 3, abs=1e-3)
    assert GeneralisedDiceLoss(from_logits=False)(prediction, truth).item() < 0.1  # the ring barely counts there


def test_segmentation_task_takes_either_dice_loss():
    from cardiolab.train.tasks import SegmentationTask

    assert isinstance(SegmentationTask(dice="mean").dice_loss, MeanDiceLoss)
    assert isinstance(SegmentationTask().dice_loss, GeneralisedDiceLoss)
    with pytest.raises(ValueError, match="dice must be one of"):
        SegmentationTask(dice="focal")


# --- [thesis] Ch. 7 event losses --------------------------------------------------------
def event_target(n_frames=12, es=4, ed=0):
    target = torch.full((1, n_frames), 2)
    target[0, es], target[0, ed] = 0, 1
    return target


def test_weighted_event_dice_by_hand_zero_when_perfect_and_differentiable():
    target = event_target()
    loss = WeightedEventDiceLoss(from_logits=False, eps=0.0)
    assert loss(one_hot(target, 3), target).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full((1, 3, 12), 1 / 3)
    # per class: 2 sum(y p) / sum(y + p): ES, ED (1 frame each) 2/3 / 5 ; other (10 frames) 20/3 / 14
    expected = 1 - (0.45 * (2 / 3) / 5 + 0.45 * (2 / 3) / 5 + 0.1 * (20 / 3) / 14)
    assert loss(uniform, target).item() == pytest.approx(expected, rel=1e-6)
    logits = torch.randn(1, 3, 12, requires_grad=True)
    assert_differentiable(WeightedEventDiceLoss()(logits, target), logits)


def test_weighted_event_cross_entropy_weights_event_frames_by_100():
    target = event_target()
    logits = torch.randn(1, 3, 12, requires_grad=True)
    frame_weights = torch.ones(12)
    frame_weights[[0, 4]] = 100.0
    expected = (F.cross_entropy(logits, target, reduction="none")[0] * frame_weights).sum()
    value = WeightedEventCrossEntropy()(logits, target)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert_differentiable(value, logits)
    confident = 20.0 * one_hot(target, 3)
    assert WeightedEventCrossEntropy()(confident, target).item() < 1e-4
    # one wrong event frame costs 100 times one wrong "other" frame
    wrong_event, wrong_other = confident.clone(), confident.clone()
    wrong_event[0, :, 4] = confident[0, :, 5]
    wrong_other[0, :, 5] = confident[0, :, 4]
    ratio = WeightedEventCrossEntropy()(wrong_event, target) / WeightedEventCrossEntropy()(wrong_other, target)
    assert ratio.item() == pytest.approx(100.0, rel=1e-3)


# --- [thesis] Ch. 6 weak volume loss ------------------------------------------------------
def test_weak_volume_loss_terms_and_gradient_through_the_scanning_module():
    prob_map = torch.rand(2, 1, 3, 20, 20, requires_grad=True)
    bottleneck = torch.randn(2, 8, 3, 2, 2)
    scan = ScanningModule()(prob_map, (10.0, 1.0, 1.0))
    target_ml = torch.tensor([2.0, 3.0])
    loss = WeakVolumeLoss()
    terms = loss.terms(scan, prob_map, bottleneck, target_ml)
    assert terms["volume_mae_ml"].item() == pytest.approx((scan["volume_ml"] - target_ml).abs().mean().item())
    assert terms["pi_mae"].item() == pytest.approx((scan["pi_hat"] - math.pi).abs().mean().item())
    assert terms["l1_bottleneck"].item() == pytest.approx(bottleneck.abs().sum().item() / 2, rel=1e-6)
    expected = terms["volume_mae_ml"] + 100 * terms["pi_mae"] + 1e-3 * (terms["l1_bottleneck"] + terms["l1_map"])
    total = loss(scan, prob_map, bottleneck, target_ml)
    assert total.item() == pytest.approx(expected.item()) and total.item() > 0
    assert_differentiable(total, prob_map)


def test_weak_volume_loss_is_zero_when_volume_and_pi_are_right_and_maps_silent():
    scan = {"volume_ml": torch.tensor([80.0]), "pi_hat": torch.tensor([math.pi])}
    zeros = torch.zeros(1, 1, 2, 4, 4)
    assert WeakVolumeLoss()(scan, zeros, zeros, [80.0]).item() == pytest.approx(0.0, abs=1e-6)


# --- [seed 001] LVQuan multitask loss -------------------------------------------------------
def test_lvquan_loss_parts_and_l2_gradient_equals_weight_decay():
    indices_true = torch.rand(4, 11)
    phase_true = torch.tensor([0, 1, 1, 0])
    confident_phase = 30.0 * one_hot(phase_true, 2)
    loss = LVQuanLoss(reg_weight=0.005)
    assert loss(indices_true, confident_phase, indices_true, phase_true).item() == pytest.approx(0.0, abs=1e-6)
    indices_pred = indices_true.clone()
    indices_pred[:, 0] += 0.2  # area A1 off by 0.2: MSE over the 2 areas = 0.04 / 2
    assert loss(indices_pred, confident_phase, indices_true, phase_true).item() == pytest.approx(0.02, rel=1e-4)
    weight = torch.randn(5, 3, requires_grad=True)
    value = loss(indices_true, confident_phase, indices_true, phase_true, parameters=[weight])
    assert value.item() == pytest.approx(0.005 * 0.5 * weight.pow(2).sum().item(), rel=1e-5)
    value.backward()
    torch.testing.assert_close(weight.grad, 0.005 * weight.detach())  # = SGD weight_decay=0.005
    logits = torch.randn(4, 2, requires_grad=True)
    assert_differentiable(loss(torch.rand(4, 11), logits, indices_true, phase_true), logits)
    # per-frame outputs (B, T, 11) and (B, T, 2): every frame is one sample
    per_frame = loss(indices_pred.reshape(2, 2, 11), confident_phase.reshape(2, 2, 2), indices_true.reshape(2, 2, 11),
                     phase_true.reshape(2, 2))
    assert per_frame.item() == pytest.approx(loss(indices_pred, confident_phase, indices_true, phase_true).item())


# --- [seed 004] class-weighted cross-entropy --------------------------------------------------
def test_class_weighted_cross_entropy_matches_hand_weighted_mean():
    target = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 0]])  # counts 7, 2, 3
    logits = torch.randn(1, 3, 12, requires_grad=True)
    weights = 12 / (3 * torch.tensor([7.0, 2.0, 3.0]))
    per_pixel = -logits.log_softmax(1)[0, target[0], torch.arange(12)]
    expected = (weights[target[0]] * per_pixel).sum() / weights[target[0]].sum()
    from_batch = ClassWeightedCrossEntropy(3)(logits, target)
    assert from_batch.item() == pytest.approx(expected.item(), rel=1e-6)
    given = ClassWeightedCrossEntropy(3, class_counts=[7, 2, 3])(logits, target)
    assert given.item() == pytest.approx(expected.item(), rel=1e-6)
    assert_differentiable(from_batch, logits)
    assert ClassWeightedCrossEntropy(3)(30.0 * one_hot(target, 3), target).item() < 1e-6
    torch.testing.assert_close(inverse_frequency_weights([5, 0, 5]), torch.tensor([10 / 15, 0.0, 10 / 15]))  # N / (C n_c)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="labelled"):
        SparseDiceTemporalLoss()(torch.randn(1, 2, 3, 1, 4, 4), torch.zeros(1, 3, 1, 4, 4), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="pred"):
        WeightedEventDiceLoss()(torch.randn(1, 4, 10), torch.zeros(1, 10))
    with pytest.raises(ValueError, match="target"):
        GeneralisedDiceLoss()(torch.randn(1, 4, 4, 4), torch.full((1, 4, 4), 7))
