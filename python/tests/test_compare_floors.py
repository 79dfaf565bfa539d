"""Benchmarks/compare/compare.py's ratio floors (issue 17): a product's rate in GFLOP/s
from its known flops, its share of the machine's gemm peak, and the lowest ratio the same
flops allow, curvlinops' rate / peak, against the goal."""
import pytest


def test_floors_from_rates(compare):
    lin = {"kfac_matvec_flops": 4e8, "ggn_matmat_flops": {"32": 2e10, "8": 5e9},
           "timings": {"kfac_matvec_ms": {"median": 4.0}, "ggn_matmat_k32_ms": {"median": 200.0},
                       "ggn_matmat_k8_ms": {"median": 100.0}}}
    ours = {"kfac_matvec_ms": 5.0, "ggn_matmat_k32_ms": 250.0}
    rows = {r["metric"]: r for r in compare.peak_floors("mlp", lin, ours, peak=160.0)}
    kfac = rows["kfac_matvec_ms"]
    # 4e8 flops in 4 ms = 100 GFLOP/s, 62.5% of 160: no ratio below 0.625 here.
    assert kfac["curvlinops_gflops"] == pytest.approx(100.0)
    assert kfac["curvature_gflops"] == pytest.approx(80.0)
    assert kfac["ratio_floor"] == pytest.approx(0.625)
    assert kfac["curvature_share_of_peak"] == pytest.approx(0.5)
    assert kfac["goal"] == 0.5 and kfac["goal_reachable"] is False
    matmat = rows["ggn_matmat_k32_ms"]
    assert matmat["curvlinops_gflops"] == pytest.approx(100.0) and matmat["goal"] == 0.25
    assert matmat["goal_reachable"] is False
    # 5e9 flops in 100 ms = 50 GFLOP/s: floor 0.3125, still above 0.25; without our number
    # the row stays, with no rate of ours.
    assert rows["ggn_matmat_k8_ms"]["curvature_gflops"] is None
    assert rows["ggn_matmat_k8_ms"]["ratio_floor"] == pytest.approx(0.3125)
    # A slow curvlinops leaves room: 4e8 flops in 20 ms = 20 GFLOP/s, floor 0.125.
    lin["timings"]["kfac_matvec_ms"]["median"] = 20.0
    slow = compare.peak_floors("mlp", lin, ours, peak=160.0)[0]
    assert slow["ratio_floor"] == pytest.approx(0.125) and slow["goal_reachable"] is True


def test_floors_without_flops_or_peak(compare):
    lin = {"timings": {"kfac_matvec_ms": {"median": 4.0}}}
    assert compare.peak_floors("gpt", lin, None, peak=160.0) == []
    lin["kfac_matvec_flops"] = 4e8
    (row,) = compare.peak_floors("cnn", lin, None, peak=None)
    assert row["curvlinops_gflops"] == pytest.approx(100.0)
    assert row["ratio_floor"] is None and row["goal_reachable"] is None


def test_ggn_matmat_flops_of_a_linear_stack(compare):
    torch = pytest.importorskip("torch")
    from torch import nn

    mlp = nn.Sequential(nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 10))
    # First layer: Wdot a and the weight cotangent; later layers also W adot and G W.
    per_column = 2 * 2 * 512 * 784 * 256 + 4 * 2 * 512 * 256 * 256 + 4 * 2 * 512 * 256 * 10
    assert compare.ggn_matmat_flops(mlp, 512, 32) == pytest.approx(32 * per_column)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 30 * 30, 10))
    assert compare.ggn_matmat_flops(cnn, 8, 32) is None
    assert compare.ggn_matmat_flops(nn.Linear(3, 2), 8, 32) is None
    del torch
