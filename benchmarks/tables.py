"""The benchmark's results as a plain-text table, with the machine it ran on."""

from __future__ import annotations

from movie_gender.model.precision import ENV_VAR

Row = tuple[str, str, str, str, str]  # what, reference, ours, ratio, precision


def format_table(r: dict) -> str:
    """The results as a plain-text table, with the machine it ran on."""
    rows = [("what", "reference", "ours", "ratio", "precision"), *_speed_rows(r), *_onnx_rows(r), *_accuracy_rows(r)]
    widths = [max(len(str(x[i])) for x in rows) for i in range(5)]
    lines = [
        "  ".join(
            str(cell).ljust(widths[i]) if i in (0, 4) else str(cell).rjust(widths[i]) for i, cell in enumerate(x)
        ).rstrip()
        for x in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join([*lines, *_peak_lines(r), _machine_line(r)])


def _speed_rows(r: dict) -> list[Row]:
    """Training and prediction throughput, the DatasetDict build, GloVe loading and (when measured) peak memory."""

    def row(label: str, key: str, ratio: str) -> Row:
        x = r[key]
        return (label, f"{x['reference_lines_per_s']:.0f}", f"{x['ours_lines_per_s']:.0f}", ratio, x["precision"])

    rows = [
        row("train, tutorial 4x256 (lines/s)", "train_tutorial", f"{r['train_speedup']:.2f}x"),
        row("train, default preset (lines/s)", "train_default", f"{r['train_speedup_default_preset']:.2f}x"),
        row(
            "train, context preset: contexts whole vs grouped (lines/s)",
            "train_context",
            f"{r['train_speedup_context_groups']:.2f}x",
        ),
        row("predict, tutorial 4x256 (lines/s)", "predict_tutorial", f"{r['predict_speedup']:.2f}x"),
        row("predict, default preset (lines/s)", "predict_default", f"{r['predict_speedup_default_preset']:.2f}x"),
        (
            "DatasetDict, 304,713 lines (s)",
            f"{r['dataset']['reference_s']:.2f}",
            f"{r['dataset']['ours_s']:.2f}",
            f"{r['dataset_speedup']:.1f}x",
            "",
        ),
        (
            f"GloVe {r['glove']['dim']}d: cold parse / cached load (s)",
            f"{r['glove_cold_parse_s']:.2f}",
            f"{r['glove_cached_load_s']:.3f}",
            "",
            "",
        ),
    ]
    if r.get("peak_rss_mb"):
        rows.append(("peak RSS, training run (MB)", "", f"{r['peak_rss_mb']:.0f}", "", ""))
    return rows


def _onnx_rows(r: dict) -> list[Row]:
    """PyTorch vs onnxruntime prediction per architecture (ratio: onnxruntime's lines/s over PyTorch's), and against
    PyTorch in fp32 where PyTorch ran in bf16."""
    rows: list[Row] = []
    for name, x in (r.get("onnx") or {}).items():
        precision = "bf16" if x["torch_bf16"] else "fp32"
        rows.append(
            (
                f"predict, {name}: PyTorch vs onnxruntime (lines/s)",
                f"{x['torch_lines_per_s']:.0f}",
                f"{x['onnx_lines_per_s']:.0f}",
                f"{x['ratio']:.2f}x",
                f"{precision} vs onnx fp32",
            )
        )
        if x["torch_bf16"]:
            rows.append(
                (
                    f"predict, {name}: PyTorch fp32 vs onnxruntime (lines/s)",
                    f"{x['torch_fp32_lines_per_s']:.0f}",
                    f"{x['onnx_lines_per_s']:.0f}",
                    f"{x['ratio_fp32']:.2f}x",
                    "fp32 vs onnx fp32",
                )
            )
    return rows


def _accuracy_rows(r: dict) -> list[Row]:
    """Validation ROC-AUC of the default preset per accuracy run (when measured)."""
    return [
        (f"val ROC-AUC, default preset, {name}", "", f"{acc['best_val_auc']:.4f}", "", acc["precision"])
        for name, acc in (r.get("accuracy") or {}).items()
    ]


def _peak_lines(r: dict) -> list[str]:
    """How close training and prediction of the tutorial architecture come to the GEMM peak of their precision."""
    flops = r["flops_per_token_tutorial"]
    lines = []
    for key, what in (("train_tutorial", "train"), ("predict_tutorial", "predict")):
        x = r[key]
        lines.append(
            f"{what}, tutorial 4x256: {x['ours_tokens_per_s']:,.0f} tokens/s x "
            f"{flops[what] / 1e6:.1f} MFLOP/token = {x['gflops']:.0f} GFLOP/s = "
            f"{100 * (x['fraction_of_peak'] or float('nan')):.0f}% of the {x['precision']} GEMM peak"
        )
    peaks = ", ".join(f"{name} {value:.0f}" for name, value in r["gemm_peak_gflops"].items())
    lines.append(f"GEMM peak on the LSTM's shapes (GFLOP/s): {peaks}")
    return lines


def _machine_line(r: dict) -> str:
    """The machine the run was on, its precision settings and how the timings were taken."""
    m = r["machine"]
    flags = " ".join(flag for flag, present in m["cpu_flags"].items() if present) or "unknown"
    cap = f", ONEDNN_MAX_CPU_ISA={m['onednn_isa_cap']}" if m.get("onednn_isa_cap") else ""
    return (
        f"({m['cpu_model']}; class {m.get('cpu_class', '?')}{cap}; flags: {flags}; bf16_native {m['bf16_native']}; "
        f"{_override_note(m)}{m['threads']} threads, torch {m['torch']}, device {m['device']}; "
        f"{'--quick, ' if r['quick'] else ''}medians of {r['repeats']} runs; total {r['total_s']:.0f}s)"
    )


def _override_note(machine: dict) -> str:
    env = machine.get("precision_env", "auto")
    return "" if env == "auto" else f"{ENV_VAR}={env}; "


__all__ = ["format_table"]
