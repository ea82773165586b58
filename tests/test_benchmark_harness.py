"""The shared benchmark harness (keras_vit.utils.benchmark): timing, run stamp, result files."""
import os
import time

import pytest

from keras_vit.utils import benchmark


def test_interleaved_timing_ranks_candidates_and_rotates_the_order():
    calls = []

    def make(label, seconds):
        def fn():
            calls.append(label)
            time.sleep(seconds)
        return fn

    rounds = benchmark.time_interleaved({"fast": make("fast", 0.001), "slow": make("slow", 0.004)},
                                        rounds=3, calls=4, warmup=1)
    assert set(rounds) == {"fast", "slow"} and all(len(v) == 3 for v in rounds.values())
    assert benchmark.summarize(rounds["slow"])[0] > 2 * benchmark.summarize(rounds["fast"])[0]
    timed = calls[2:]  # after one warm-up call each
    # Call by call: the two alternate; the second round starts with the other candidate.
    assert timed[:8] == ["fast", "slow"] * 4
    assert timed[8:16] == ["slow", "fast"] * 4
    blocks = []
    benchmark.time_interleaved({"a": lambda: blocks.append("a"), "b": lambda: blocks.append("b")},
                               rounds=1, calls=3, warmup=0, per_call=False)
    assert blocks == ["a", "a", "a", "b", "b", "b"]
    raw = benchmark.time_interleaved({"a": lambda: None}, rounds=2, calls=3, warmup=0, reduce=None)
    assert [len(r) for r in raw["a"]] == [3, 3]


@pytest.mark.parametrize("rounds, calls", [(0, 1), (1, 0)])
def test_interleaved_timing_refuses_empty_work(rounds, calls):
    with pytest.raises(ValueError, match="at least 1"):
        benchmark.time_interleaved({"a": lambda: None}, rounds=rounds, calls=calls)


def test_run_stamp_names_date_cpu_flags_and_versions():
    stamp = benchmark.run_stamp("benchmarks/example.py")
    assert stamp.startswith("Run: 20") and "`benchmarks/example.py`" in stamp
    for flag in ("AMX", "AVX512-BF16", "AVX512-VNNI"):
        assert f"{flag} yes" in stamp or f"{flag} no" in stamp
    assert "Python 3." in stamp and "numpy " in stamp
    assert set(benchmark.cpu_flags()) >= {"AMX", "AVX512-BF16", "AVX512-VNNI"}


def test_result_file_starts_with_its_stamp(tmp_path):
    path = benchmark.write_result("example", "An example", "Run: 2026-12-04 ...", "| a |\n|---|\n| 1 |",
                                  folder=str(tmp_path))
    text = open(path, encoding="utf-8").read()
    assert text.splitlines()[:3] == ["# An example", "", "Run: 2026-12-04 ..."]
    assert [f for f in os.listdir(tmp_path)] == ["example.md"]  # no temporary file left
    assert benchmark.markdown_table(("x", "y"), [(1, 2)]) == "| x | y |\n|---|---|\n| 1 | 2 |"
