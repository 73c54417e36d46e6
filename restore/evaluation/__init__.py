"""Model benchmarking under the papers' protocol, the papers' published numbers, and the reports."""
from restore.evaluation.benchmark import PROTOCOL, BenchmarkRun, ImageScore, SetResult, run_benchmark

__all__ = ["PROTOCOL", "BenchmarkRun", "ImageScore", "SetResult", "run_benchmark"]
