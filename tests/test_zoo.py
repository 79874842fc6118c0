"""tinyrec.zoo: the served forms score like the models they come from, and ship fewer bytes."""

import pytest
import torch

from tinyrec import measure, models, prune, quantize, zoo


@pytest.fixture(scope="module")
def weight_and_history():
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(200, 200, generator=generator)
    history = (torch.rand(16, 200, generator=generator) < 0.1).float()
    return weight, history


@pytest.mark.parametrize("form, tolerance", [("int8", 1e-4), ("int4", 1e-4), ("csr", 1e-4), ("torchao-int8", 0.3)])
def test_item_item_forms_score_as_their_compact_matrix(weight_and_history, form, tolerance):
    weight, history = weight_and_history
    compact = {"int8": lambda: quantize.quantize_rows(weight, 8).dequantize(),
               "int4": lambda: quantize.quantize_rows(weight, 4).dequantize(),
               "csr": lambda: prune.magnitude_prune(weight, 0.9), "torchao-int8": lambda: weight}[form]()
    reference = history @ compact
    served = zoo.ItemItem(prune.magnitude_prune(weight, 0.9) if form == "csr" else weight, form)
    with torch.no_grad():
        scores = served(torch.arange(16), history)
    assert (scores - reference).abs().max() < tolerance
    assert measure.saved_bytes(served.artefact()) < measure.saved_bytes({"weight": weight}) / 1.9


def test_item_item_rejects_an_unknown_form(weight_and_history):
    with pytest.raises(ValueError, match="form must be"):
        zoo.ItemItem(weight_and_history[0], "int2")


def test_quantized_mf_scores_with_the_dequantized_tables():
    mf = models.BPRMF(30, 50, dim=8)
    served = zoo.QuantizedMF(mf, 8)
    users = torch.tensor([3, 0, 29])
    expected = quantize.quantize_rows(mf.user.weight.detach(), 8).dequantize()[users] @ \
        quantize.quantize_rows(mf.item.weight.detach(), 8).dequantize().T
    assert torch.allclose(served(users), expected, atol=1e-5)


def test_recommend_never_returns_a_seen_item(weight_and_history):
    weight, history = weight_and_history
    served = zoo.Served("dense", "test", models.with_weights(models.EASE(200), {"weight": weight}), {"weight": weight},
                        weight.numel())
    top = served.recommend(torch.arange(16), history, k=10)
    assert top.shape == (16, 10) and not history.gather(1, top).any()
    assert served.bytes > weight.nbytes
