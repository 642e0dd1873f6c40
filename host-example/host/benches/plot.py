"""Draws time per in-memory write against batch size from the benchmark results.

    python3 host-example/benches/plot.py [RESULTS] [SVG]

RESULTS defaults to target/bench-results.json (written by
`cargo bench -p pipeline-checkpoint-host --bench checkpoint`), SVG to
docs/bench-write-vs-batch.svg, both relative to the repository root. Standard library
only: the SVG is written by hand so the plot needs nothing installed.
"""

import json
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]

# Series drawn, in legend order: (results series, label, colour, dash pattern).
SERIES = [
    ("python/memory", "Python seed (dict store)", "#d62728", ""),
    ("memory/component-list", "component, list<string>", "#ff7f0e", "6 3"),
    ("memory/component-batch", "component, borrow<batch>", "#1f77b4", ""),
    ("memory/native", "native Rust (same logic)", "#2ca02c", "2 3"),
]

WIDTH, HEIGHT = 720, 460
TARGET_NS = 1_000
LEFT, RIGHT, TOP, BOTTOM = 80, 250, 50, 60


def log_ticks(low: float, high: float):
    """Powers of ten covering [low, high], with 2 and 5 between them."""
    ticks = []
    exponent = math.floor(math.log10(low))
    while 10**exponent <= high * 10:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if low <= value <= high:
                ticks.append(value)
        exponent += 1
    return ticks


def duration(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:g} {unit}"
    return f"{ns:g} ns"


def main() -> None:
    results_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/bench-results.json"
    svg_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs/bench-write-vs-batch.svg"
    report = json.loads(results_path.read_text())

    points = {}
    for result in report["results"]:
        if result.get("batch") is not None:
            points.setdefault(result["series"], {})[result["batch"]] = result["ns_per_write"]
    drawn = [s for s in SERIES if s[0] in points]
    if not drawn:
        sys.exit(f"{results_path} has none of the in-memory series; run the benchmarks first")

    batches = sorted({b for name, *_ in drawn for b in points[name]})
    values = [v for name, *_ in drawn for v in points[name].values()]
    y_low = 10 ** math.floor(math.log10(min(values)))
    y_high = 10 ** math.ceil(math.log10(max(values)))
    x_low, x_high = min(batches), max(batches)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(batch: float) -> float:
        span = math.log10(x_high) - math.log10(x_low) or 1
        return LEFT + (math.log10(batch) - math.log10(x_low)) / span * plot_w

    def y(ns: float) -> float:
        span = math.log10(y_high) - math.log10(y_low)
        return TOP + plot_h - (math.log10(ns) - math.log10(y_low)) / span * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT + plot_w / 2}" y="24" text-anchor="middle" font-size="15">'
        "Time per checkpoint write, in memory (lower is better)</text>",
    ]
    for tick in log_ticks(y_low, y_high):
        ty = y(tick)
        major = math.log10(tick).is_integer()
        out.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            f'stroke="{"#bbb" if major else "#e5e5e5"}"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end">{escape(duration(tick))}</text>'
        )
    for batch in batches:
        tx = x(batch)
        out.append(f'<line x1="{tx:.1f}" y1="{TOP}" x2="{tx:.1f}" y2="{TOP + plot_h}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{batch:,}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
        "ids per batch (log scale)</text>"
    )
    out.append(
        f'<text transform="translate(20 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        "time per write (log scale)</text>"
    )

    # The in-memory target for a write through the component.
    if y_low <= TARGET_NS <= y_high:
        ty = y(TARGET_NS)
        out.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            'stroke="#555" stroke-dasharray="1 4" stroke-width="1.5"/>'
        )
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{ty + 15:.1f}" text-anchor="middle" '
            'fill="#555">target for the component: 1 µs</text>'
        )

    for index, (name, label, colour, dash) in enumerate(drawn):
        series = sorted(points[name].items())
        path = " ".join(f"{x(b):.1f},{y(v):.1f}" for b, v in series)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        for b, v in series:
            out.append(
                f'<circle cx="{x(b):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}">'
                f"<title>{escape(label)}: {b:,} ids, {escape(duration(round(v, 1)))}</title></circle>"
            )
        ly = TOP + 10 + index * 22
        lx = LEFT + plot_w + 16
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 28}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dashes}/>'
        )
        out.append(f'<text x="{lx + 36}" y="{ly + 4}">{escape(label)}</text>')

    load = " ".join(report.get("load_average_before", "").split()[:3])
    cpu = (report.get("machine") or {}).get("cpu_model") or "unknown CPU"
    note = f"{cpu}; load average at start: {load}"
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" font-size="10" fill="#666">{escape(note)}</text>')
    out.append("</svg>")

    svg_path.parent.mkdir(parents=True, exist_ok=True)
    svg_path.write_text("\n".join(out) + "\n")
    print(f"wrote {svg_path}")


if __name__ == "__main__":
    main()
