#!/usr/bin/env python3
"""bench/report.py RESULTS OUT: writes OUT/BENCHMARKS.md and its plots (OUT/bench/*.png, drawn by gnuplot) from the
machine-readable results bench/run's scenarios left in RESULTS (bench/lib.sh describes the files). Every number in the
report comes from those files; the files themselves are copied to OUT/bench/results/ next to the plots."""

import csv
import math
import os
import shutil
import subprocess
import sys

# What each scenario compares, in the order the report shows them: (file stem or prefix, title, description).
SCENARIOS = [
    ("list", "List, cold path",
     "The list endpoint with its cache bypassed (every request reaches Postgres), next to the very same SQL "
     "(`booka-list-sql` prints it) run by `pgbench -M prepared` with as many clients as the server has connections; "
     "each sort, with and without the largest category, page 1 and a deep page. Each side keeps the better of two "
     "alternating runs (`bench/list/run.sh`)."),
    ("cache", "List, cache HITs",
     "Cached list responses over h2c, the server running the repo's own `h2o.conf`, against Debian's stock `h2o` "
     "serving the very same body as a static file, same threads, connections and streams; without and with an access "
     "log (`h2o.conf`'s format, to a file) on both sides; best of alternating rounds; then HITs while an entry "
     "refreshes every second (`bench/cache/run.sh`)."),
    ("avatar", "Avatar proxy",
     "Avatars through the server, cold (decode, crop, Lanczos-3, encode) and warm (cached variant), as medians of "
     "curl's time per request, against `vipsthumbnail` on the same sources, sizes and qualities (per image, start-up "
     "excluded); both single-threaded. Then HITs over h2c with the repo's h2o.conf, at the versioned URL the list emits "
     "and at a 64 px variant, against Debian's stock `h2o` serving the very same bytes as a static file, same threads, "
     "connections and streams; best of alternating rounds (`bench/avatar/run.sh`)."),
    ("image", "Image library alone",
     "`booka-thumb` (plugin/image as a command) against `vipsthumbnail`, one process per image: CPU time and peak RSS, "
     "medians of several runs (`bench/image/run.sh`)."),
    ("mruby", "mruby rewrite",
     "Requests/s through the trailing-slash rewrite (mruby/rewrites.rb + reproxy) against the canonical URL, both "
     "served by `file.dir` so only the rewrite differs (`bench/mruby/run.sh`)."),
    ("memory", "Memory under 1,000 concurrent HTTP/2 streams",
     "Peak resident memory (VmHWM) of a freshly started server under h2load, 100 connections x 10 streams, against "
     "stock `h2o` serving the same bytes as static files under the same load (`bench/memory/run.sh`)."),
    ("edge", "Freshness: write to visible, and origin load behind an edge",
     "A provider renamed 100 times (1,000 providers); after each commit, the time until the list shows it at the "
     "origin, through a real Varnish (`plugin/edge/varnish.vcl`) keeping lists an hour and purged by tag, and through "
     "a real streaming standby (`pg_basebackup -R`, WAL applied 500 ms late) against the standby's own replay; then "
     "the list requests reaching the origin under a fixed load at Varnish with a write every 5 s, 60 s lifetimes "
     "without purging against an hour with purging (`bench/edge/run.sh`)."),
]
GROWTH_PREFIX = "growth-"
PERCENTILES = ["p50", "p90", "p99", "p99.9"]
# per side: the colours of p99.9, p99, p90, p50 (light to dark)
PALETTES = [
    ["#c6dbef", "#6baed6", "#2171b5", "#08306b"],
    ["#fdd0a2", "#fd8d3c", "#d94801", "#7f2704"],
    ["#c7e9c0", "#74c476", "#238b45", "#00441b"],
    ["#dadaeb", "#9e9ac8", "#6a51a3", "#3f007d"],
]


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [row for row in csv.reader(f, delimiter="\t") if row]


def number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def size_name(n):
    return f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def cell(text):
    return text.replace("|", "\\|")


def gnuplot_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_gnuplot(script, png, work):
    path = os.path.join(work, os.path.basename(png) + ".gp")
    with open(path, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", path], check=True)


def percentile_plot(rows, title, ylabel, png, work):
    """Nested bars per case and side: each bar is the side's p99.9, with p99, p90 and p50 drawn over it, darker;
    log scale. Returns False when there is nothing to draw."""
    rows = [r for r in rows if len(r) >= 7 and number(r[3]) is not None]
    if not rows:
        return False
    cases, sides = [], []
    for r in rows:
        if r[0] not in cases:
            cases.append(r[0])
        if r[1] not in sides:
            sides.append(r[1])
    stride = len(sides) + 1
    data = os.path.join(work, os.path.basename(png) + ".dat")
    lowest = min(number(v) for r in rows for v in r[3:7] if number(v) and number(v) > 0)
    with open(data, "w") as f:
        for r in rows:
            x = cases.index(r[0]) * stride + sides.index(r[1])
            palette = PALETTES[sides.index(r[1]) % len(PALETTES)]
            for shade, value in zip(palette, reversed(r[3:7])):
                if number(value) is not None and number(value) > 0:
                    f.write(f"{x} {number(value)} 0x{shade[1:]}\n")
            f.write("\n\n")
    tics = ", ".join(f"{gnuplot_string(c)} {cases.index(c) * stride + (len(sides) - 1) / 2}" for c in cases)
    keys = ", ".join(f"NaN with boxes fs solid lc rgb {gnuplot_string(PALETTES[i % len(PALETTES)][2])} "
                     f"title {gnuplot_string(s)}" for i, s in enumerate(sides))
    width = min(2400, max(900, 34 * len(cases) * stride + 200))
    margin = min(22, 3 + max(len(c) for c in cases) * 0.32)
    run_gnuplot(f"""set terminal pngcairo noenhanced size {width},620 font "DejaVu Sans,10"
set output {gnuplot_string(png)}
set title {gnuplot_string(title + " - bar: p99.9 (lightest), p99, p90, p50 (darkest)")}
set ylabel {gnuplot_string(ylabel + " (log scale)")}
set logscale y
set yrange [{lowest / 2}:*]
set grid ytics
set style fill solid 1.0 noborder
set boxwidth 0.8
set xrange [-1:{len(cases) * stride - 1}]
set xtics ({tics}) rotate by 30 right nomirror
set bmargin {margin}
set lmargin {max(10, round(len(cases[0]) * 0.6))}
set key outside top center horizontal
plot {gnuplot_string(data)} using 1:2:3 with boxes lc rgb variable notitle, {keys}
""", png, work)
    return True


def growth_plot(growth, png, work):
    """Server p50 (solid) and pgbench p50 (dashed) per case against the data set size, log-log."""
    sizes = sorted(growth)
    cases = []
    for n in sizes:
        for case in growth[n]:
            if case not in cases:
                cases.append(case)
    data = os.path.join(work, os.path.basename(png) + ".dat")
    with open(data, "w") as f:
        for case in cases:
            for n in sizes:
                if case in growth[n]:
                    ours, ref = growth[n][case]
                    f.write(f"{n} {ours} {ref}\n")
            f.write("\n\n")
    plots = []
    for i, case in enumerate(cases):
        colour = PALETTES[i % len(PALETTES)][2]
        plots.append(f"{gnuplot_string(data)} index {i} using 1:2 with linespoints lw 2 pt 7 lc rgb {gnuplot_string(colour)} "
                     f"title {gnuplot_string(case + ', server')}")
        plots.append(f"{gnuplot_string(data)} index {i} using 1:3 with linespoints lw 1 dt 2 pt 6 lc rgb {gnuplot_string(colour)} "
                     f"title {gnuplot_string(case + ', SQL (pgbench)')}")
    run_gnuplot(f"""set terminal pngcairo noenhanced size 1000,{560 + 20 * len(cases)} font "DejaVu Sans,10"
set output {gnuplot_string(png)}
set title "List cold path p50 by data set size: server (solid) and the same SQL by pgbench (dashed)"
set xlabel "providers (log scale)"
set ylabel "p50 ms (log scale)"
set logscale xy
set grid
set xrange [{sizes[0] / 2}:{sizes[-1] * 2}]
set xtics ({", ".join(f'"{size_name(n)}" {n}' for n in sizes)})
set bmargin {4 + len(cases)}
set key outside bottom center vertical maxrows {len(cases)}
plot {", ".join(plots)}
""", png, work)


def comparison_rows(title, rows):
    lines = []
    for r in rows:
        case, metric, unit, ours, ref, ratio, meaning = (r + [""] * 7)[:7]
        unit = "" if unit in ("", "-") else " " + unit
        ours_text = ours + unit if ours not in ("", "-") else "-"
        ref_text = ref + unit if ref not in ("", "-") else "-"
        ratio_text = f"**{ratio}**" if ratio not in ("", "-") else "-"
        lines.append(f"| {cell(title)} | {cell(case)} | {cell(metric)} | {ours_text} | {ref_text} | {ratio_text} | "
                     f"{cell(meaning)} |")
    return lines


def percentile_table(rows):
    lines = ["| case | measured | samples | p50 ms | p90 ms | p99 ms | p99.9 ms |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(v) for v in (r + [""] * 7)[:7]) + " |")
    return lines


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: report.py RESULTS OUT")
    results, out = sys.argv[1], sys.argv[2]
    plots = os.path.join(out, "bench")
    os.makedirs(plots, exist_ok=True)
    work = os.path.join(results, "plots")
    os.makedirs(work, exist_ok=True)
    machine = read_tsv(os.path.join(results, "machine.tsv"))
    facts = {k: v for k, v in machine}

    md = ["# Benchmarks", "",
          f"Generated by `bench/run` ({facts.get('mode', '?')} run) from the results its scenarios wrote; do not edit, "
          "re-run it (`bench/run --skip-load` reuses the loaded data sets). Each ratio compares booka-origin with a "
          "reference measured in the same run, on the same machine, moments apart. Where a ratio misses its target, "
          "`docs/PERFORMANCE.md` shows the profile that says where the time goes.", "",
          "## Machine", "", "| | |", "|---|---|"]
    md += [f"| {cell(k)} | {cell(v)} |" for k, v in machine if not k.startswith("time ")]
    md += ["", "The load average counts every process on the machine: when it is above the core count, other work "
           "shared the cores with both sides of each comparison, so absolute numbers are low and ratios noisier than "
           "on an idle machine.", ""]

    md += ["## Every scenario", "",
           "Our number, the reference measured in the same run, and their ratio; the last column says which way the "
           "ratio points. What each scenario does, its plot and its percentiles follow the table.", "",
           "| scenario | case | metric | booka-origin | reference | ratio | the ratio is |",
           "|---|---|---|---|---|---|---|"]
    sections = []
    for stem, title, description in SCENARIOS:
        rows = read_tsv(os.path.join(results, stem + ".tsv"))
        pct = read_tsv(os.path.join(results, stem + ".pct.tsv"))
        md += comparison_rows(title, rows)
        sections += [f"### {title}", "", description, ""]
        elapsed = facts.get("time " + stem)
        if not rows:
            sections += [f"Not measured in this run{f' ({elapsed})' if elapsed else ''}.", ""]
            continue
        if elapsed:
            sections += [f"Scenario time: {elapsed}.", ""]
        png = os.path.join(plots, stem + ".png")
        ylabel = "CPU ms per process run" if stem == "image" else "latency, ms"
        if percentile_plot(pct, title, ylabel, png, work):
            sections += [f"![{title}: latency percentiles](bench/{stem}.png)", ""]
        if pct:
            unit_note = " (CPU ms per process run, not latency)" if stem == "image" else ""
            sections += [f"<details><summary>Percentiles{unit_note}</summary>", ""] + percentile_table(pct) + \
                ["", "</details>", ""]
    md += ["", "## The scenarios", ""] + sections

    growth, growth_p99 = {}, {}
    for name in sorted(os.listdir(results)):
        if name.startswith(GROWTH_PREFIX) and name.endswith(".tsv") and not name.endswith(".pct.tsv"):
            n = int(name[len(GROWTH_PREFIX):-4])
            growth[n] = {r[0]: (number(r[3]), number(r[4])) for r in read_tsv(os.path.join(results, name))
                         if len(r) >= 5 and r[1] == "p50 latency"}
            growth_p99[n] = {(r[0], r[1]): r[5] for r in read_tsv(os.path.join(results, name[:-4] + ".pct.tsv"))}
    md += ["## Cost growth: the cold path by data set size", ""]
    if growth:
        sizes = sorted(growth)
        cases = list(dict.fromkeys(c for n in sizes for c in growth[n]))
        md += ["The list's cold path (no cache) and its SQL alone by pgbench at each data set size; p50 in ms, server / "
               "SQL, with the server's p99. The last column is the server's p50 at the largest set over the smallest: "
               "1.0 is flat.", ""]
        header = "| case | " + " | ".join(f"{size_name(n)}: server p50 / SQL p50 (server p99)" for n in sizes)
        md += [header + " | growth |", "|---" * (len(sizes) + 2) + "|"]
        for case in cases:
            cells = []
            for n in sizes:
                ours, ref = growth[n].get(case, (None, None))
                p99 = growth_p99[n].get((case, "booka-origin"), "-")
                cells.append(f"{ours} / {ref} ({p99})" if ours is not None else "-")
            first, last = growth[sizes[0]].get(case, (None,))[0], growth[sizes[-1]].get(case, (None,))[0]
            factor = f"{last / first:.2f}x" if first and last else "-"
            md.append(f"| {cell(case)} | " + " | ".join(cells) + f" | **{factor}** |")
        md.append("")
        growth_plot(growth, os.path.join(plots, "growth.png"), work)
        md += ["![List cold path by data set size](bench/growth.png)", ""]
        md += ["Per size, every list scenario row (throughput too) is in `bench/results/growth-N.tsv`.", ""]
    else:
        md += ["Not measured in this run.", ""]

    if os.path.realpath(out) != os.path.realpath(results):
        copies = os.path.join(plots, "results")
        shutil.rmtree(copies, ignore_errors=True)
        os.makedirs(copies)
        for name in os.listdir(results):
            if name.endswith(".tsv") or name.endswith(".log"):
                shutil.copy(os.path.join(results, name), copies)
        md += ["The results this report was made from (TSV) and each scenario's console output (log) are in "
               "[bench/results/](bench/results/).", ""]
    with open(os.path.join(out, "BENCHMARKS.md"), "w") as f:
        f.write("\n".join(md))


if __name__ == "__main__":
    main()
