"""benchmarks/bench.py --quick: every row of the benchmark runs on a tiny config and the JSON and table hold them."""

import importlib.util
import json
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


def run_quick_bench(monkeypatch, capsys, *arguments: str) -> tuple[dict, str]:
    """``bench.py --quick --threads 1 *arguments`` in this process: its JSON and its whole output."""
    spec = importlib.util.spec_from_file_location("bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    monkeypatch.setattr(sys, "argv", ["bench.py", "--quick", "--threads", "1", *arguments])
    try:
        bench.main()
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    return json.loads(text[: text.index("\n}\n") + 2]), text


def test_quick_benchmark_runs_every_row_and_prints_json_and_a_table(monkeypatch, capsys):
    result, text = run_quick_bench(monkeypatch, capsys)
    rows = result["rows"]
    train = [row for row in rows if row["kind"] == "train"]
    generate = [row for row in rows if row["kind"] == "generate"]
    assert {(row["model"], row["trainable"], row["dtype"]) for row in train} == {
        ("t5", "paper", "fp32"), ("t5", "paper", "bf16"), ("unimse", "paper", "fp32"), ("unimse", "paper", "bf16"),
        ("unimse", "all", "bf16"), ("unimse", "lora", "bf16"),
    }  # fmt: skip
    for row in train:
        assert row["flops_per_step"] > 0 and row["seconds_per_step"] > 0 and row["peak_rss_mib"] > 0
        assert 0 < row["mfu"] and 0 < row["mfu_vs_bf16_peak"]
    unimse_all = next(row for row in train if row["trainable"] == "all")
    paper = next(row for row in train if row["model"] == "unimse" and row["trainable"] == "paper")
    assert unimse_all["trainable_parameters"] > paper["trainable_parameters"]
    assert paper["frozen_prefix_seconds"] > 0
    assert {(row["labels"], row["beams"]) for row in generate} == {("official", 1), ("package", 1), ("package", 4)}
    official = next(row for row in generate if row["labels"] == "official")
    package = next(row for row in generate if row["labels"] == "package")
    assert official["tokens_per_sample"] == 20 and 0 < package["tokens_per_sample"] < 20
    overhead = {row["dtype"]: row for row in rows if row["kind"] == "overhead"}
    assert set(overhead) == {"fp32", "bf16"}
    for row in overhead.values():
        assert row["flop_ratio"] > 1 and row["attn_implementation"] == "eager"
        for phase in ("step", "generate"):
            assert len(row[f"{phase}_ratios"]) == 3 and row[f"{phase}_ratio"] > 0
            assert min(row[f"{phase}_ratios"]) <= row[f"{phase}_ratio"] <= max(row[f"{phase}_ratios"])
    assert set(result["ratios"]["tiny_b2"]) >= {
        "speedup_recommended_vs_plain_t5_fp32", "fusion_overhead_fp32", "fusion_flop_ratio_bf16",
        "generation_speedup_recommended_vs_official_fp32",
    }  # fmt: skip
    assert "| tiny | 2 | train step | fp32 |" in text and "| fusion_overhead_fp32 |" in text
    assert result["matmul_peak_gflops"]["fp32"] > 0 and result["embedding"] is None
    assert "| tiny | 2 | UniMSE train, paper | bf16 |" in text and "official unrounded (max 20)" in text
    media = result["media"]
    if "skipped" not in media:  # the media extra is in dev; without it the row says why it is skipped
        assert set(media["rows"]) == {"acoustic", "acoustic_from_mp4", "visual"} and media["clip_seconds"] == 2.0
        assert all(row["media_seconds_per_cpu_second"] > 0 for row in media["rows"].values())
        assert "| visual |" in text
    else:
        assert "raw-media extraction: skipped (not installed" in text


def test_kinds_selects_the_rows_and_the_ratios_they_give(monkeypatch, capsys):
    result, text = run_quick_bench(monkeypatch, capsys, "--kinds", "overhead")
    assert {row["kind"] for row in result["rows"]} == {"overhead"}
    assert all(name.startswith("fusion_") for name in result["ratios"]["tiny_b2"])
    assert "| train step |" in text and "s/step" not in text and "utt/s" not in text
