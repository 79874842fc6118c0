"""tinyrec.quantize: hand-written row-wise quantization, its byte count, and agreement with torchao."""

import math

import pytest
import torch

from tinyrec import quantize


@pytest.fixture()
def weight():
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(37, 101, generator=generator) * torch.linspace(0.01, 3.0, 37)[:, None]
    w[5] = 0.25  # a constant row
    w[7, ::2] = 0.0  # many exact zeros, as in EASE's diagonal or a pruned row
    return w


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_error_is_at_most_half_a_step_per_row(weight, bits):
    q = quantize.quantize_rows(weight, bits)
    error = (weight - q.dequantize()).abs()
    tolerance = 1e-6 * weight.abs().max()
    assert (error <= q.scale[:, None] / 2 + tolerance).all()
    assert torch.equal(q.dequantize()[5], weight[5])  # constant row: exact, scale 0
    assert q.scale[5] == 0
    codes = q.codes()
    assert codes.shape == weight.shape and codes.dtype == torch.uint8
    assert int(codes.max()) == 2**bits - 1 and int(codes.min()) == 0
    # the extremes of every non-constant row are reproduced (up to rounding of the stored scale)
    deq = q.dequantize()
    assert torch.allclose(deq.max(dim=1).values, weight.max(dim=1).values, atol=1e-5)
    assert torch.allclose(deq.min(dim=1).values, weight.min(dim=1).values, atol=1e-5)


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_bytes_are_real_codes_plus_overhead(weight, bits):
    rows, cols = weight.shape
    q = quantize.quantize_rows(weight, bits)
    per_byte = 8 // bits
    assert q.packed.dtype == torch.uint8
    assert q.packed.shape == (rows, math.ceil(cols / per_byte))
    assert q.scale.dtype == q.offset.dtype == torch.float32
    assert q.nbytes == rows * math.ceil(cols / per_byte) + rows * 4 * 2


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_pack_and_unpack_are_inverse(bits):
    generator = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 2**bits, (9, 13), generator=generator, dtype=torch.uint8)
    packed = quantize.pack(codes, bits)
    assert packed.shape == (9, math.ceil(13 * bits / 8))
    assert torch.equal(quantize.unpack(packed, bits, 13), codes)


def test_four_bit_packing_is_low_nibble_first():
    packed = quantize.pack(torch.tensor([[1, 2, 3]], dtype=torch.uint8), 4)
    assert packed.tolist() == [[0x21, 0x03]]


def test_bad_bits_and_shapes_are_rejected(weight):
    for bits in (1, 3, 16, 0):
        with pytest.raises(ValueError, match="bits must be one of"):
            quantize.quantize_rows(weight, bits)
    with pytest.raises(ValueError, match="2-d"):
        quantize.quantize_rows(torch.ones(3), 8)


def test_more_bits_means_smaller_error(weight):
    errors = [(weight - quantize.quantize_rows(weight, b).dequantize()).abs().mean() for b in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_keep_zero_represents_zero_exactly(weight, bits):
    q = quantize.quantize_rows(weight, bits, keep_zero=True)
    deq = q.dequantize()
    assert (deq[weight == 0] == 0).all()
    assert ((weight - deq).abs() <= q.scale[:, None] + 1e-6).all()  # one step at the extremes


@pytest.mark.parametrize("bits", [8, 4, 2])
def test_hand_written_agrees_with_torchao(bits):
    generator = torch.Generator().manual_seed(2)
    weight = torch.randn(64, 200, generator=generator) * torch.rand(64, 1, generator=generator)
    weight.fill_diagonal_(0.0)  # like EASE: every row contains 0
    theirs = quantize.torchao_rowwise(weight, bits).weight
    same = quantize.quantize_rows(weight, bits, keep_zero=True)
    # same step, scale = (max - min) / (2**bits - 1), and the same values (integer zero point)
    assert torch.allclose(theirs.scale.flatten(), same.scale, rtol=1e-6)
    # the same codes, except (rarely) one level apart at a near-exact half-way point, where torchao's
    # float32 arithmetic and our float64 arithmetic round to different sides
    gap = (theirs.dequantize() - same.dequantize()).abs() / same.scale[:, None]
    assert (gap <= 1 + 1e-4).all()
    assert (gap > 1e-3).float().mean() < 1e-3
    assert int(theirs.qdata.max()) - int(theirs.qdata.min()) <= 2**bits - 1
    # the default (offset = row minimum) grid is shifted by less than one step from torchao's
    ours = quantize.quantize_rows(weight, bits)
    assert torch.allclose(ours.scale, same.scale)
    assert ((ours.dequantize() - theirs.dequantize()).abs() <= ours.scale[:, None] + 1e-6).all()


def test_torchao_int8_dynamic_linear_runs_and_is_close():
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(50, 40, generator=generator) * 0.1
    history = (torch.rand(8, 50, generator=generator) < 0.2).float()
    linear = quantize.torchao_int8_dynamic_linear(weight)
    with torch.no_grad():
        scores = linear(history)
    exact = history @ weight
    assert scores.shape == exact.shape
    assert (scores - exact).abs().max() < 0.05 * exact.abs().max()


def test_fp16_scales_halve_the_overhead_and_keep_the_error_bound(weight):
    q32 = quantize.quantize_rows(weight, 8)
    q16 = quantize.quantize_rows(weight, 8, scale_dtype=torch.float16)
    rows = weight.shape[0]
    assert q32.nbytes - q16.nbytes == rows * 4  # 2 bytes saved on each of scale and offset
    assert q16.scale.dtype == q16.offset.dtype == torch.float16
    error = (weight - q16.dequantize()).abs()
    step = q16.scale.float()[:, None]
    assert (error <= step * 0.5 + 1e-3 * step + 1e-6).float().mean() > 0.999  # the bound, up to clamped maxima
    assert torch.allclose(q16.dequantize(), q32.dequantize(), atol=2 * float(q32.scale.max()))
    with pytest.raises(ValueError, match="scale_dtype"):
        quantize.quantize_rows(weight, 8, scale_dtype=torch.bfloat16)
