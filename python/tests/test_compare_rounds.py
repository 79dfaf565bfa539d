"""Benchmarks/compare/compare.py --rounds: the rounds of each library merge into one result,
every timing the median of the rounds' medians (issue 17; the harness itself needs torch
only when it times, so this runs without it). The `compare` fixture is in conftest.py."""


def timing(median, minimum, cpu, samples):
    return {"median": median, "min": minimum, "cpu_median": cpu, "samples": samples}


def test_curvlinops_rounds(compare):
    rounds = [
        {"P": 10, "N": 4, "peak_rss_mib": 100.0, "timings": {"gradient_ms": timing(5.0, 4.0, 9.0, [4.0, 5.0, 6.0])}},
        {"P": 10, "N": 4, "peak_rss_mib": 120.0, "timings": {"gradient_ms": timing(9.0, 8.5, 17.0, [8.5, 9.0])}},
        {"P": 10, "N": 4, "peak_rss_mib": 110.0, "timings": {"gradient_ms": timing(6.0, 3.0, 11.0, [3.0, 6.0])}},
    ]
    merged = compare.merge_curvlinops_rounds(rounds)
    g = merged["timings"]["gradient_ms"]
    assert g["median"] == 6.0 and g["cpu_median"] == 11.0 and g["min"] == 3.0
    assert g["round_medians"] == [5.0, 9.0, 6.0]
    assert sorted(g["samples"]) == [3.0, 4.0, 5.0, 6.0, 6.0, 8.5, 9.0]
    assert merged["peak_rss_mib"] == 120.0 and merged["P"] == 10
    # One round is that round.
    assert compare.merge_curvlinops_rounds(rounds[:1])["timings"]["gradient_ms"]["median"] == 5.0


def test_curv_rounds(compare):
    rounds = [
        {"P": 10, "N": 4, "peak_rss_bytes": 5, "gradient_ms": 2.0, "gradient_cpu_ms": 4.0, "kfac_mc_build_ms": None},
        {"P": 10, "N": 4, "peak_rss_bytes": 7, "gradient_ms": 8.0, "gradient_cpu_ms": 9.0, "kfac_mc_build_ms": None},
        {"P": 10, "N": 4, "peak_rss_bytes": 6, "gradient_ms": 3.0, "gradient_cpu_ms": 5.0, "kfac_mc_build_ms": None},
    ]
    merged = compare.merge_curv_rounds(rounds)
    assert merged["gradient_ms"] == 3.0 and merged["gradient_cpu_ms"] == 5.0
    assert merged["kfac_mc_build_ms"] is None  # a model KFAC does not cover stays null
    assert merged["peak_rss_bytes"] == 7 and merged["N"] == 4
