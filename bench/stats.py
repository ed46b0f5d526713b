"""Percentiles as every table of the report states them: the nearest rank of the sorted values."""

from __future__ import annotations


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]
