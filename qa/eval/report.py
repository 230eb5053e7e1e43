"""The eval report: `report.json`, a short `report.md` with one-line definitions, and a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (section, key, label, definition)
METRICS = [
    ("retrieval", "recall@1", "Recall@1",
     "share of a question's gold articles (by normalised URL) that are the top retrieved article"),
    ("retrieval", "recall@5", "Recall@5", "the same, within the first 5 distinct articles"),
    ("retrieval", "recall@10", "Recall@10", "the same, within the first 10 distinct articles"),
    ("retrieval", "mrr@10", "MRR@10", "mean of 1/rank of the first gold article in the top 10 "
     "(0 if none)"),
    ("answers", "exact_match", "Exact match", "SQuAD-normalised answer (citations removed) equals "
     "a gold answer; a refusal scores 0"),
    ("answers", "f1", "Token F1", "SQuAD token F1 between the answer and the best gold answer"),
    ("answers", "contains_gold", "Gold in answer", "a normalised gold answer appears, on word "
     "boundaries, in the answer"),
    ("multiple_choice", "accuracy", "Multiple choice", "the picked choice is a gold answer (pick: "
     "highest sum of z-scored passage coverage, passage closeness and the model's likelihood "
     "gain from the evidence)"),
    ("citations", "cites_gold", "Cites a gold article", "share of questions whose gold article is "
     "in the index whose answer cites it (refusals count as not citing)"),
    ("citations", "gold_share", "Citations that are gold", "share of citations, on those "
     "questions, that point at a gold article"),
    ("citations", "quote_exact", "Exact quotes", "share of citation quotes that are exact "
     "substrings of the cited article (must be 1.0)"),
    ("refusals", "refusal_rate", "Refusal (unanswerable)", "share of `answers: []` questions "
     "refused"),
    ("refusals", "false_refusal_rate", "False refusal", "share of questions with gold answers "
     "that were refused"),
    ("answers", "precision", "Answer precision", "share of the answered questions with gold "
     "answers whose answer is right (contains a gold answer, or token F1 >= 0.5)"),
]


def metric_rows(report: dict[str, Any]) -> list[tuple[str, Any, str, str]]:
    """(label, value, how many questions it is over, definition) for each quality metric."""
    rows = []
    for section, key, label, definition in METRICS:
        part = report[section]
        if key == "quote_exact":
            n = f"{part['quotes']} quotes"
        elif key == "precision":
            n = f"{part['n_answered']} answered"
        elif section == "refusals":
            n = str(part["n_unanswerable" if key == "refusal_rate" else "n_answerable"])
        else:
            n = str(part["n"])
        rows.append((label, part.get(key), n, definition))
    return rows


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", "", "| metric | value | questions | definition |", "|---|---|---|---|"]
    for label, value, n, definition in metric_rows(report):
        lines.append(f"| {label} | {_fmt(value)} | {n} | {definition} |")
    lat = report["latency"]
    lines += [
        f"| Latency p50 | {_fmt(lat['p50_s'])} s | {lat['n']} | per question, retrieval to "
        "verified answer (and the multiple-choice pick) |",
        f"| Latency p90 | {_fmt(lat['p90_s'])} s | {lat['n']} | 90th percentile of the same |",
        f"| Wall time | {_fmt(lat['wall_s'])} s | {report['answered']} | the whole run, "
        "model loading included, summed over resumed sessions |",
        "",
        f"Gold articles found in the index for {report['retrieval']['gold_in_index']} of "
        f"{report['retrieval']['n']} questions with gold URLs. Multiple-choice picks by rule: "
        f"{report['multiple_choice']['rules'] or 'none'}.",
        "",
    ]
    if report.get("settings_fingerprint"):
        lines += [f"Settings fingerprint: `{report['settings_fingerprint']}` (the same in "
                  "run.json: the run's settings, hashed).", ""]
    return "\n".join(lines)


def chart(report: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values = [], []
    for section, key, label, _ in METRICS:
        value = report[section].get(key)
        if value is not None:
            labels.append(label)
            values.append(value)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5),
                                      gridspec_kw={"width_ratios": [2, 1]})
    left.barh(labels[::-1], values[::-1], color="#3b6ea8")
    left.set_xlim(0, 1)
    for y, value in enumerate(values[::-1]):
        left.text(min(value + 0.01, 0.93), y, f"{value:.2f}", va="center", fontsize=8)
    left.set_title("quality")
    latencies = report.get("latencies_s") or []
    right.hist(latencies, bins=30, color="#a8663b")
    right.set_xlabel("seconds per question")
    right.set_title(f"latency (p50 {_fmt(report['latency']['p50_s'])} s)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out: Path, report: dict[str, Any], title: str) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report, title), encoding="utf-8")
    chart(report, out / "report.png", title)
