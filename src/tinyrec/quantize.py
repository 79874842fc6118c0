"""Row-wise affine quantization, written out by hand so every byte can be counted.

Each row ``r`` of a float matrix is mapped onto ``2**bits`` evenly spaced levels between its own minimum
and maximum::

    scale[r]  = (max(w[r]) - min(w[r])) / (2**bits - 1)
    offset[r] = min(w[r])
    code      = round((w - offset[r]) / scale[r])          # an integer in [0, 2**bits - 1]
    w_hat     = offset[r] + scale[r] * code                 # dequantized; |w - w_hat| <= scale[r] / 2

One scale and one offset per row is the scheme used for production embedding tables (one row = one
item), because rows differ in range and a single scale for the whole table would waste levels.
Codes are stored as ``uint8``: one per byte at 8 bits, two per byte at 4 bits, four per byte at 2 bits,
so :attr:`RowQuantized.nbytes` is the memory the codes really take. Scales and offsets are kept in
float32 (8 bytes of overhead per row; float16 would halve that, at the price of a slightly looser error
bound).

:func:`torchao_rowwise` quantizes the same matrix with ``torchao``'s ``IntxWeightOnlyConfig``
(asymmetric, one scale and integer zero point per row); ``quantize_rows(..., keep_zero=True)`` is the
same scheme, so the two can be compared value for value.
"""

import logging
from dataclasses import dataclass

import torch

SUPPORTED_BITS = (8, 4, 2)


def _check_bits(bits):
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits!r}")


def pack(codes, bits):
    """Pack integer codes ``[rows, cols]`` (values < 2**bits) into bytes ``uint8 [rows, ceil(cols*bits/8)]``.

    Code ``k`` of a byte sits in bits ``k*bits .. (k+1)*bits - 1`` (lowest first). Each row is padded
    with zero codes to whole bytes so a row can still be read on its own (an embedding lookup).
    """
    _check_bits(bits)
    per_byte = 8 // bits
    rows, cols = codes.shape
    padded = torch.zeros(rows, -(-cols // per_byte) * per_byte, dtype=torch.uint8)
    padded[:, :cols] = codes.to(torch.uint8)
    groups = padded.view(rows, -1, per_byte)
    packed = torch.zeros(groups.shape[:2], dtype=torch.uint8)
    for k in range(per_byte):
        packed |= groups[:, :, k] << (k * bits)
    return packed


def unpack(packed, bits, cols):
    """Inverse of :func:`pack`: codes ``uint8 [rows, cols]`` from packed bytes."""
    _check_bits(bits)
    per_byte = 8 // bits
    mask = (1 << bits) - 1
    parts = [(packed >> (k * bits)) & mask for k in range(per_byte)]
    return torch.stack(parts, dim=-1).reshape(packed.shape[0], -1)[:, :cols]


@dataclass(frozen=True)
class RowQuantized:
    """A matrix quantized row by row: packed codes plus one scale and offset per row.

    ``packed``: ``uint8 [rows, ceil(cols*bits/8)]``; ``scale``, ``offset``: ``float32 [rows]`` (or float16);
    ``shape``: the original ``(rows, cols)``.
    """

    packed: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor
    bits: int
    shape: tuple

    def codes(self):
        """The integer codes, unpacked: ``uint8 [rows, cols]`` with values in ``[0, 2**bits - 1]``."""
        return unpack(self.packed, self.bits, self.shape[1])

    def dequantize(self):
        """The float32 approximation ``offset + scale * code``, shape ``[rows, cols]``."""
        return self.offset.float()[:, None] + self.scale.float()[:, None] * self.codes().float()

    @property
    def nbytes(self):
        """Bytes of codes plus per-row scales and offsets (the overhead is counted, not hidden)."""
        return sum(t.nbytes for t in (self.packed, self.scale, self.offset))


SCALE_DTYPES = (torch.float32, torch.float16)


def quantize_rows(weight, bits, keep_zero=False, scale_dtype=torch.float32):
    """Quantize a float matrix ``[rows, cols]`` row by row to ``bits`` in {8, 4, 2}: a :class:`RowQuantized`.

    By default every entry obeys ``|w - dequantized| <= scale[row] / 2`` (up to float32 rounding), and a
    constant row gets scale 0 and is reproduced exactly.

    ``keep_zero=True`` is the scheme of torchao and PyTorch (an *integer* zero point): the range is widened
    to contain 0 and the offset is rounded to a whole number of steps, so that 0.0 is exactly
    representable (zeros of a pruned matrix stay zeros). The price: the grid no longer ends exactly at the
    row's extremes, so the error there can reach one full step.

    ``scale_dtype=torch.float16`` stores scales and offsets in 2 bytes each instead of 4, halving the
    per-row overhead (what matters for short rows, such as 64-dimensional embeddings). Codes are computed
    against the rounded values, so the bound still holds, up to the clamping of a row's maximum when its
    rounded scale came out slightly small.
    """
    _check_bits(bits)
    if scale_dtype not in SCALE_DTYPES:
        raise ValueError(f"scale_dtype must be one of {SCALE_DTYPES}, got {scale_dtype!r}")
    if weight.dim() != 2:
        raise ValueError(f"weight must be a 2-d matrix, got shape {tuple(weight.shape)}")
    w = weight.detach().to("cpu", torch.float64)
    levels = 2**bits - 1
    low, high = w.min(dim=1).values, w.max(dim=1).values
    if keep_zero:
        low, high = low.clamp(max=0.0), high.clamp(min=0.0)
    scale = ((high - low) / levels).to(scale_dtype).double()  # the value that will be stored
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    offset = (torch.round(low / safe) * scale if keep_zero else low).to(scale_dtype).double()
    codes = torch.round((w - offset[:, None]) / safe[:, None]).clamp(0, levels)
    return RowQuantized(pack(codes, bits), scale.to(scale_dtype), offset.to(scale_dtype), bits, tuple(weight.shape))


def _import_torchao():
    """Import ``torchao``, silencing its import-time log lines about optional GPU kernels."""
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import torchao.quantization

    return torchao.quantization


def torchao_rowwise(weight, bits):
    """``torchao``'s row-wise asymmetric weight-only quantization of ``weight`` ``[rows, cols]``.

    The matrix is put in an ``nn.Embedding`` (one row per item, like an embedding table) and quantized in
    place by ``quantize_(..., IntxWeightOnlyConfig(torch.int{bits}, PerAxis(0), ASYMMETRIC))``. Returns the
    embedding; ``embedding.weight.dequantize()`` gives the float approximation. torchao keeps an
    *integer* zero point, so its grid always contains 0 exactly: it matches
    ``quantize_rows(weight, bits, keep_zero=True)``.
    """
    _check_bits(bits)
    tq = _import_torchao()
    embedding = torch.nn.Embedding(*weight.shape)
    embedding.weight.data = weight.detach().float().cpu().clone()
    config = tq.IntxWeightOnlyConfig(weight_dtype=getattr(torch, f"int{bits}"), granularity=tq.PerAxis(0),
                                     mapping_type=tq.MappingType.ASYMMETRIC)
    tq.quantize_(embedding, config, filter_fn=lambda module, name: isinstance(module, torch.nn.Embedding))
    return embedding.eval()


def torchao_int8_dynamic_linear(weight):
    """An ``nn.Linear`` computing ``x @ weight`` with torchao's int8 dynamic quantization.

    ``weight`` is ``[in_features, out_features]`` (EASE's ``[items, items]``: ``scores = history @ W``), so
    the Linear holds ``weight.T``; its weights are int8 per output channel (per *column* of ``weight``)
    and each input row is quantized to int8 on the fly.
    """
    tq = _import_torchao()
    linear = torch.nn.Linear(*weight.shape, bias=False)
    linear.weight.data = weight.detach().float().cpu().T.contiguous()
    tq.quantize_(linear, tq.Int8DynamicActivationInt8WeightConfig())
    return linear.eval()
