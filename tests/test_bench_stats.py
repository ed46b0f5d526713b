"""Every percentile of the benchmark's tables is the nearest rank of the sorted values (bench.stats)."""

from bench.stats import percentile
from bench.writer import summary


def test_p50_is_the_nearest_rank_everywhere_not_an_interpolated_median():
    latencies = [4.0, 1.0, 3.0, 2.0]  # statistics.median would say 2.5, a value no write took
    assert percentile(sorted(latencies), 0.50) == 3.0
    assert summary(latencies) == {"n": 4, "p50": 3.0, "p99": 4.0, "max": 4.0}


def test_no_latencies_is_zeroes():
    assert summary([]) == {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
