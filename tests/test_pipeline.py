"""tinyrec.pipeline: compress in either order, serve from the codes, ship one file that reproduces the scores."""

import pytest
import torch

from tinyrec import measure, models, pipeline, prune, quantize


@pytest.fixture(scope="module")
def tables():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(40, 16, generator=generator), torch.randn(60, 16, generator=generator)


def test_compact_mf_scores_with_the_dequantized_tables(tables):
    user, item = tables
    model = pipeline.compress(user, item, bits=4)
    users = torch.tensor([5, 0, 39])
    expected = (quantize.quantize_rows(user, 4, scale_dtype=torch.float16).dequantize()[users]
                @ quantize.quantize_rows(item, 4, scale_dtype=torch.float16).dequantize().T)
    assert torch.allclose(model(users), expected, atol=1e-5)
    assert (model.bits, model.rank) == (4, 16)


def test_prune_then_quantize_is_the_truncated_factorisation_quantized(tables):
    user, item = tables
    model = pipeline.compress(user, item, bits=8, rank=6)
    u, v = prune.truncate_rank(user, item, 6)
    assert model.rank == 6
    assert (model(torch.arange(40)) - u @ v.T).abs().max() < 0.1 * (u @ v.T).abs().max()


def test_quantize_then_prune_rounds_twice_so_it_differs(tables):
    user, item = tables
    once = pipeline.compress(user, item, bits=2, rank=6, order="prune-quantize")
    twice = pipeline.compress(user, item, bits=2, rank=6, order="quantize-prune")
    assert twice.rank == 6 and not torch.equal(once(torch.arange(40)), twice(torch.arange(40)))


def test_fewer_bits_and_fewer_dimensions_make_a_smaller_file(tables):
    user, item = tables
    sizes = [measure.saved_bytes(pipeline.compress(user, item, bits, rank).artefact())
             for bits, rank in ((8, None), (4, None), (4, 8), (2, 8))]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4


def test_save_and_load_reproduce_the_scores_exactly(tables, tmp_path):
    model = pipeline.compress(*tables, bits=4, rank=8)
    size = pipeline.save(model, tmp_path / "student.pt")
    assert size == (tmp_path / "student.pt").stat().st_size == measure.saved_bytes(model.artefact())
    users = torch.arange(40)
    assert torch.equal(pipeline.load(tmp_path / "student.pt")(users), model(users))


def test_a_fresh_process_reproduces_the_scores(tables, tmp_path):
    model = pipeline.compress(*tables, bits=4)
    pipeline.save(model, tmp_path / "student.pt")
    users = torch.tensor([1, 7, 30])
    with torch.no_grad():
        torch.set_num_threads(1)
        assert torch.equal(pipeline.scores_in_fresh_process(tmp_path / "student.pt", users), model(users))


def test_a_fresh_process_that_fails_says_why(tmp_path):
    torch.save({"format": "something else"}, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="not a tinyrec.pipeline"):
        pipeline.scores_in_fresh_process(tmp_path / "bad.pt", torch.tensor([0]))


def test_bad_input_names_the_offending_value(tables):
    user, item = tables
    with pytest.raises(ValueError, match="order must be one of"):
        pipeline.compress(user, item, bits=4, rank=4, order="sideways")
    with pytest.raises(ValueError, match="rank must be a positive integer, got 0"):
        pipeline.compress(user, item, bits=4, rank=0)
    with pytest.raises(ValueError, match="same width"):
        pipeline.CompactMF.from_tables(user, item[:, :8], 4)
    with pytest.raises(ValueError, match="not a tinyrec.pipeline.CompactMF/1 artefact"):
        pipeline.CompactMF.from_artefact({"weight": user})
    with pytest.raises(ValueError, match="must be a CompactMF"):
        pipeline.save(torch.nn.Linear(2, 2), "never-written.pt")


def test_the_grid_prunes_below_each_dimension_in_both_orders():
    students = {dim: models.BPRMF(20, 30, dim) for dim in (8, 16)}
    grid = pipeline.candidates(students, bits=(8, 4), ranks=(8,))
    assert len(grid) == 2 + 2 * 3  # d=8: int8, int4; d=16: those, and rank 8 in two orders at each
    assert pipeline.Setting(16, 8, 4, "quantize-prune").name == "KD d=16 → int4 → rank 8"
    assert pipeline.Setting(16, 8, 4).name == "KD d=16 → rank 8 → int4"
    assert all(model.rank == (s.rank or s.dim) and model.bits == s.bits for s, model in grid.items())
