"""Turn a peer-benchmark result (runner JSON) into Markdown tables and PNG plots.

The Markdown goes between ``<!-- peers:begin -->`` and ``<!-- peers:end -->`` in the
report file (created if missing), so the hand-written method and caveats around it stay.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- peers:begin -->", "<!-- peers:end -->"
HEADLINE_PAIRS = (  # (bitsift system, peer): in-process vs in-process, server vs server
    ("bitsift", "faiss-hnsw"), ("bitsift", "qdrant-edge-hnsw"), ("bitsift", "hnswlib"), ("bitsift", "usearch"),
    ("bitsift-http", "pgvector-hnsw"),
)


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if "error" not in r]


def _fmt(x: Any, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _qps(row: dict[str, Any], clients: int) -> float | None:
    return next((t["qps"] for t in row.get("throughput", []) if t["clients"] == clients), None)


def _setting(row: dict[str, Any]) -> str:
    op = row["operating_point"]
    return "-" if op["sweep"] is None else f"{row['sweep_param']}={op['sweep']}" + ("" if op["reached_target"] else " (!)")


def dataset_table(rows: list[dict[str, Any]], clients: list[int]) -> str:
    head = ("| system | kind | setting | build s | bytes/vector | recall@10 | p50 ms | p95 ms | p99 ms | server p50 ms | "
            + " | ".join(f"QPS {c}" for c in clients) + " |")
    lines = [head, "|" + "---|" * 3 + "---:|" * (7 + len(clients))]
    for r in _ok(rows):
        op, lat = r["operating_point"], r["operating_point"]["latency"]
        lines.append(
            f"| {r['system']} | {r['kind']} | {_setting(r)} | {r['build_s']:.1f} | {r['bytes_per_vector']:,.0f} | "
            f"{op['recall@10']:.3f} | {lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | "
            f"{_fmt(r.get('server_latency', {}).get('p50'))} | "
            + " | ".join(_fmt(_qps(r, c), ",.0f") for c in clients) + " |")
    return "\n".join(lines)


def quality_table(rows: list[dict[str, Any]], names: list[str]) -> str:
    real = [r for r in _ok(rows) if "ndcg@10" in r["operating_point"]]
    systems = list(dict.fromkeys(r["system"] for r in real))
    lines = ["| system | " + " | ".join(f"{n} nDCG@10 | {n} recall@10" for n in names) + " |",
             "|---|" + "---:|---:|" * len(names)]
    for s in systems:
        cells = []
        for n in names:
            r = next((x for x in real if x["system"] == s and x["dataset"] == n), None)
            cells += ["-", "-"] if r is None else [f"{r['operating_point']['ndcg@10']:.3f}",
                                                    f"{r['operating_point']['recall@10']:.3f}"]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cheapest_at(row: dict[str, Any], recall: float) -> dict[str, Any] | None:
    """The lowest-latency sweep point of ``row`` reaching ``recall``."""
    ok = [p for p in row["points"] if p["recall@10"] >= recall - 1e-9]
    return min(ok, key=lambda p: p["latency"]["p50"]) if ok else None


def run_of(result: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(system, dataset) -> the run that measured it: 1 is the main run, 2.. the merged re-runs in order."""
    runs = {(r["system"], r["dataset"]): 1 for r in result["rows"]}
    for i, rerun in enumerate(result.get("reruns", []), start=2):
        for label in rerun["rows"]:
            system, dataset = label.split(" on ", 1)
            runs[(system, dataset)] = i
    return runs


def headline(rows: list[dict[str, Any]], dataset: str, clients: int, target: float,
             runs: dict[tuple[str, str], int] | None = None) -> list[dict[str, Any]]:
    """Ratios > 1 favour bitsift: latency = peer p50 / bitsift p50; throughput = bitsift QPS / peer QPS.

    Operating points may differ in recall when a system cannot reach the target, so latency is
    also compared at equal recall: the highest level both reach (at most the target), each
    system at its cheapest sweep setting reaching it."""
    by = {r["system"]: r for r in _ok(rows) if r["dataset"] == dataset}
    out = []
    for mine, peer in HEADLINE_PAIRS:
        if mine not in by or peer not in by:
            continue
        a, b = by[mine]["operating_point"], by[peer]["operating_point"]
        qa, qb = _qps(by[mine], clients), _qps(by[peer], clients)
        level = min(target, max(p["recall@10"] for p in by[mine]["points"]),
                    max(p["recall@10"] for p in by[peer]["points"]))
        ea, eb = _cheapest_at(by[mine], level), _cheapest_at(by[peer], level)
        out.append({"bitsift": mine, "peer": peer, "bitsift_recall": a["recall@10"], "peer_recall": b["recall@10"],
                    "bitsift_p50_ms": a["latency"]["p50"], "peer_p50_ms": b["latency"]["p50"],
                    "latency_ratio": b["latency"]["p50"] / a["latency"]["p50"],
                    f"bitsift_qps_{clients}": qa, f"peer_qps_{clients}": qb,
                    "throughput_ratio": qa / qb if qa and qb else None,
                    "equal_recall": level, "bitsift_setting_at_equal": ea["sweep"], "peer_setting_at_equal": eb["sweep"],
                    "bitsift_p50_at_equal": ea["latency"]["p50"], "peer_p50_at_equal": eb["latency"]["p50"],
                    "latency_ratio_at_equal": eb["latency"]["p50"] / ea["latency"]["p50"],
                    "runs": ((runs or {}).get((mine, dataset), 1), (runs or {}).get((peer, dataset), 1))})
    return out


def _runs(runs: tuple[int, int]) -> str:
    return f"same run ({runs[0]})" if runs[0] == runs[1] else f"runs {runs[0]} / {runs[1]}"


def headline_table(items: list[dict[str, Any]], clients: int) -> str:
    lines = [f"| bitsift | peer | recall@10 at operating points (bitsift / peer) | p50 ms (bitsift / peer) | "
             f"latency ratio | QPS at {clients} clients (bitsift / peer) | {clients}-client throughput ratio | "
             "equal recall level | p50 ms at equal recall (bitsift / peer) | latency ratio at equal recall | measured in |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for h in items:
        lines.append(f"| {h['bitsift']} | {h['peer']} | {h['bitsift_recall']:.3f} / {h['peer_recall']:.3f} | "
                     f"{h['bitsift_p50_ms']:.2f} / {h['peer_p50_ms']:.2f} | {h['latency_ratio']:.2f}x | "
                     f"{_fmt(h[f'bitsift_qps_{clients}'], ',.0f')} / {_fmt(h[f'peer_qps_{clients}'], ',.0f')} | "
                     f"{_fmt(h['throughput_ratio'])}x | {h['equal_recall']:.3f} | "
                     f"{h['bitsift_p50_at_equal']:.2f} / {h['peer_p50_at_equal']:.2f} | "
                     f"{h['latency_ratio_at_equal']:.2f}x | {_runs(h['runs'])} |")
    return "\n".join(lines)


def _width(system: str) -> float:
    return 2.5 if system.startswith("bitsift") else 1.2  # bitsift's own lines stand out


def _save(fig: Any, folder: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(folder / name)
    plt.close(fig)
    return name


def plots(result: dict[str, Any], folder: Path) -> list[str]:
    """throughput vs clients, latency vs N, recall vs latency; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _ok(result["rows"])
    synth = sorted({r["dataset"] for r in rows if r["dataset"].startswith("synthetic")},
                   key=lambda d: result["datasets"][d]["n"])
    if not synth:
        return []
    # one colour per system in every plot; tab20 has enough that no two systems share one
    names = list(dict.fromkeys(r["system"] for r in rows))
    color = {n: plt.cm.tab20.colors[i % 20] for i, n in enumerate(names)}
    largest, written = synth[-1], []
    folder.mkdir(parents=True, exist_ok=True)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, kind in zip(axes, ("in-process", "server")):
        for r in rows:
            if r["dataset"] == largest and r["kind"] == kind and r.get("throughput"):
                t = r["throughput"]
                ax.plot([x["clients"] for x in t], [x["qps"] for x in t], "o-", label=r["system"],
                        color=color[r["system"]], lw=_width(r["system"]))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("searches / s")
        ax.set_title(f"{kind}, {largest}", fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    written.append(_save(fig, folder, "peers-throughput.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    for s in dict.fromkeys(r["system"] for r in rows if r["dataset"] in synth):
        pts = sorted((result["datasets"][r["dataset"]]["n"], r["operating_point"]["latency"]["p50"])
                     for r in rows if r["system"] == s and r["dataset"] in synth)
        if pts:
            ax.plot(*zip(*pts), "o-", label=s, color=color[s], lw=_width(s))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors (N)")
    ax.set_ylabel("single-client p50 latency, ms")
    ax.set_title("latency vs N at each system's operating point", fontsize=10)
    ax.legend(fontsize=7)
    written.append(_save(fig, folder, "peers-latency-vs-n.png"))

    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    for r in rows:
        if r["dataset"] == largest:
            pts = [(p["latency"]["p50"], p["recall@10"]) for p in r["points"]]
            ax.plot(*zip(*pts), "o-", label=r["system"], color=color[r["system"]], lw=_width(r["system"]))
    ax.axhline(result["suite"]["target_recall"], color="0.7", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("single-client p50 latency, ms")
    ax.set_ylabel("recall@10 vs exact float")
    ax.set_title(f"recall vs latency, {largest} (sweep of each system's knob)", fontsize=10)
    ax.legend(fontsize=7)
    written.append(_save(fig, folder, "peers-recall-vs-latency.png"))
    return written


def render(result: dict[str, Any], images: list[str]) -> str:
    suite, rows = result["suite"], result["rows"]
    clients = suite.get("clients", [])
    m = result["machine"]
    parts = [f"Run 1: {result['started']} - {result.get('finished', '?')} on {m['cpu']}, {m['cores']} cores, "
             f"{m['memory_gib']} GiB, Python {m['python']}; k = {suite['k']}; target recall@10 = "
             f"{suite['target_recall']}. Generated by `benchmarks/peers/report.py` from `{Path('benchmarks/peers.json')}`."]
    for i, rerun in enumerate(result.get("reruns", []), start=2):
        parts.append(f"Run {i} (re-run): {rerun['started']} - {rerun.get('finished', '?')} and merged: {', '.join(rerun['rows'])}.")
    synth = sorted({r["dataset"] for r in rows if r["dataset"].startswith("synthetic")}, key=lambda d: result["datasets"][d]["n"])
    if synth and clients:
        items = headline(rows, synth[-1], max(clients), suite["target_recall"], run_of(result))
        if items:
            parts.append(f"### Headline ({synth[-1]})\n\nRatios > 1 favour bitsift. Latency ratio = peer p50 / bitsift p50 "
                         f"(one client); throughput ratio = bitsift / peer searches per second at {max(clients)} clients, "
                         "each system at its operating point (below; a peer that cannot reach the target recall runs "
                         "at its best setting, so its recall is lower). The last three columns compare latency at the "
                         "highest recall both reach (at most the target); \"measured in\" names the run (above) of each "
                         "row: only pairs measured in the same run are like for like.\n\n" + headline_table(items, max(clients)))
    real = [d for d in result["datasets"] if not d.startswith("synthetic")]
    if real:
        parts.append("### Quality on the real collections\n\nnDCG@10 with the collections' graded judgments; recall@10 "
                     "against exact float search.\n\n" + quality_table(rows, real))
    for d in list(real) + synth:
        info = result["datasets"][d]
        parts.append(f"### {d} ({info['n']:,} x {info['dim']}, {info['queries']} queries)\n\n"
                     + dataset_table([r for r in rows if r["dataset"] == d], clients))
    failed = [r for r in rows if "error" in r]
    if failed:
        parts.append("### Failed\n\n" + "\n".join(f"- {r['system']} on {r['dataset']}: `{r['error']}`" for r in failed))
    parts.append("### Settings\n\n" + "\n".join(
        f"- **{r['system']}**: " + ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        for r in {r["system"]: r for r in _ok(rows)}.values()))
    parts += [f"![{i}]({i})" for i in images]
    return "\n\n".join(parts)


def write_report(result: dict[str, Any], report: Path) -> None:
    images = plots(result, report.parent)
    body = f"{BEGIN}\n{render(result, images)}\n{END}"
    text = report.read_text() if report.exists() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + body + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    report.write_text(text)


if __name__ == "__main__":
    write_report(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
