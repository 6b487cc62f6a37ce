"""The float64 parity rule: its bound, its verdict, and the float64 reference run (parity.py)."""

import pytest
import torch

from triton_speech.export.parity import PARITY_FACTOR, PARITY_FLOOR, Parity, float64, to_float64


def test_the_bound_is_the_factor_times_float32s_own_error_or_the_floor():
    deep = Parity(onnx=3e-3, float32=5e-3)
    assert deep.bound == pytest.approx(PARITY_FACTOR * 5e-3) and deep.passed
    exact = Parity(onnx=1e-6, float32=0.0)
    assert exact.bound == pytest.approx(PARITY_FACTOR * PARITY_FLOOR) and exact.passed
    assert PARITY_FACTOR * PARITY_FLOOR >= 1e-4  # never stricter than the fixed bound shallow models always met
    assert not Parity(onnx=2.1e-2, float32=5e-3).passed


def test_check_names_both_errors_when_it_refuses():
    Parity(onnx=1e-3, float32=1e-3).check("graph")
    with pytest.raises(AssertionError, match=r"graph differs from the float64 reference by 5\.00e-02 .* 1\.00e-03"):
        Parity(onnx=5e-2, float32=1e-3).check("graph")


def test_record_has_both_numbers_and_the_rule():
    record = Parity(onnx=1e-3, float32=2e-3, onnx_vs_float32=2.5e-3, metric="max abs").record()
    assert record == {"onnx_vs_float64": 1e-3, "float32_vs_float64": 2e-3, "bound": pytest.approx(8e-3),
                      "factor": PARITY_FACTOR, "floor": PARITY_FLOOR, "onnx_vs_float32": 2.5e-3, "metric": "max abs"}


@pytest.mark.parametrize("kernel, stride, dilation, padding, bias", [
    (33, 2, 1, 16, False), (75, 1, 1, 37, True), (5, 1, 2, 4, True), (7, 3, 1, 0, False),
])
def test_depthwise_convolutions_in_float64_are_pytorchs_own(kernel, stride, dilation, padding, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(24, 24, kernel, stride=stride, dilation=dilation, padding=padding, groups=24, bias=bias)
    x = torch.randn(2, 24, 90)
    expected = torch.nn.functional.conv1d(x.double(), conv.weight.double(), conv.bias.double() if bias else None,
                                          stride, padding, dilation, groups=24)
    with float64(conv), torch.no_grad():
        ours = conv(x.double())
        assert "_conv_forward" in vars(conv)  # the windowed sums ran, not PyTorch's own
    assert ours.dtype == torch.float64 and torch.allclose(ours, expected, rtol=0, atol=1e-12)


def test_the_model_is_float32_again_exactly_after():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv1d(8, 8, 5, padding=2, groups=8), torch.nn.BatchNorm1d(8),
                                torch.nn.Conv1d(8, 4, 1))
    model[1].running_mean.normal_()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with float64(model):
        assert all(t.dtype in (torch.float64, torch.int64) for t in model.state_dict().values())
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) and before[name].dtype == after[name].dtype for name in before)
    assert "_conv_forward" not in vars(model[0])
    x = torch.randn(1, 8, 20)
    assert model.eval()(x).dtype == torch.float32


def test_a_grouped_convolution_that_is_not_depthwise_keeps_pytorchs_own():
    conv = torch.nn.Conv1d(8, 16, 3, groups=8)
    with float64(conv):
        assert "_conv_forward" not in vars(conv)


def test_to_float64_converts_floating_tensors_only():
    floats, ints, flags = to_float64(torch.ones(2), torch.ones(2, dtype=torch.int64), torch.ones(2, dtype=torch.bool))
    assert (floats.dtype, ints.dtype, flags.dtype) == (torch.float64, torch.int64, torch.bool)
