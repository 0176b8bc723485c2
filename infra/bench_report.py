"""Turns one `infra/bench.sh` run (a directory of JSON files) into the benchmark report:
report.md, report.json and PNG charts in the report directory. When that directory
already holds a report.json, it is the previous run: every figure is compared with it.

    .venv/bench/bin/python infra/bench_report.py target/bench/<run> docs/bench
"""

import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STAGES = ["collecting", "processing", "scripting", "voiceover", "rendering"]
# A change smaller than this is noise on a shared 2-core machine; exact figures (counts,
# admissions) are compared exactly.
NOISE_PERCENT = 5.0


def load(run, name):
    path = os.path.join(run, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1048576, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "arch": platform.machine(),
    }


def git_commit(out):
    """HEAD, with "+changes" when tracked files differ from it. The report directory's
    own files do not count: this run has just rewritten its charts there."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        own = os.path.relpath(os.path.abspath(out), top).rstrip("/") + "/"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True).stdout.splitlines()
        dirty = [line for line in status if not line[3:].startswith(own)]
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def slugify(text):
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


class Metrics:
    def __init__(self):
        self.rows = []

    def add(self, mid, group, label, value, unit, better, cores, exact=False):
        if value is None:
            return
        self.rows.append({"id": mid, "group": group, "label": label, "value": value,
                          "unit": unit, "better": better, "cores": cores, "exact": exact})


def collect(run, m, cores_here):
    raw = {}

    api = load(run, "api_load.json")
    if api:
        raw["api_load"] = api
        c = api.get("machine_cores", cores_here)
        g = "API, local backend (SQLite), %d connections" % api["connections"]
        for key, name in [("get", "GET /api/v1/campaigns/:id"), ("post", "POST /api/v1/campaigns (2 languages)")]:
            s = api[key]
            m.add(f"api.{key}.req_per_s", g, f"{name}: throughput", s["req_per_s"], "req/s", "higher", c)
            m.add(f"api.{key}.p50_ms", g, f"{name}: p50", s["p50_ms"], "ms", "lower", c)
            m.add(f"api.{key}.p99_ms", g, f"{name}: p99", s["p99_ms"], "ms", "lower", c)
        g = "Limiter under a 10x overload (all requests at once)"
        for layer in api.get("overload", []):
            slug = slugify(layer["layer"])
            m.add(f"limiter.{slug}.admitted", g,
                  f"{layer['layer']}: admitted of {layer['sent']} (limit {layer['limit']})",
                  layer["admitted"], "requests", "exact", c, exact=True)
            m.add(f"limiter.{slug}.accuracy", g, f"{layer['layer']}: admitted / limit",
                  round(layer["accuracy"], 4), "ratio", "exact", c, exact=True)
            m.add(f"limiter.{slug}.refused_p99_ms", g, f"{layer['layer']}: 429 p99",
                  layer["refused_p99_ms"], "ms", "lower", c)

    trips = load(run, "aws_round_trips.json")
    if trips:
        raw["aws_round_trips"] = trips
        c = trips.get("machine_cores", cores_here)
        g = "Store round trips per request (aws backend: DynamoDB + SQS)"
        for row in trips["requests"]:
            slug = slugify(row["request"])
            m.add(f"aws.trips.{slug}", g, row["request"], row["round_trips"], "round trips", "lower", c, exact=True)

    render = load(run, "render_speed.json")
    if render:
        raw["render_speed"] = render
        c = render.get("machine_cores", cores_here)
        g = "Render speed (local ffmpeg, 1080x1920)"
        m.add("render.median_speed", g,
              f"{render['output_seconds']:.0f} s video, {render['fps']} fps, {render['preset']}: output s per wall s (median of {len(render['runs'])})",
              round(render["median_speed"], 2), "x", "higher", c)

    demos = [load(run, os.path.basename(p)) for p in sorted(glob.glob(os.path.join(run, "demo-*.json")))]
    demos = [d for d in demos if d]
    if demos:
        raw["demo"] = demos
        g = f"End to end: reelforge demo (en, ja, ko), median of {len(demos)} run(s)"
        m.add("demo.total_seconds", g, "wall time, campaign created to files downloaded",
              statistics.median(d["total_seconds"] for d in demos), "s", "lower", cores_here)
        for stage in STAGES:
            vals = [s["seconds"] for d in demos for s in d["stage_seconds"] if s["stage"] == stage]
            if vals:
                m.add(f"demo.stage.{stage}", g, f"stage {stage}", statistics.median(vals), "s", "lower", cores_here)
        speeds = []
        for d in demos:
            rendering = [s["seconds"] for s in d["stage_seconds"] if s["stage"] == "rendering"]
            out = sum(v["duration_seconds"] for v in d["videos"])
            if rendering and rendering[0] > 0:
                speeds.append(out / rendering[0])
        if speeds:
            m.add("demo.render_speed", g, "rendering stage: output s per wall s (3 videos at once)",
                  round(statistics.median(speeds), 2), "x", "higher", cores_here)
        rss = [d.get("peak_rss_mib") for d in demos if d.get("peak_rss_mib")]
        if rss:
            m.add("demo.peak_rss_mib", g, "reelforge process peak RSS", max(rss), "MiB", "lower", cores_here)

    hooks = load(run, "webhook_delivery.json")
    if hooks:
        raw["webhook_delivery"] = hooks
        c = hooks.get("machine_cores", cores_here)
        g = "Webhook deliveries (local sender, 4 workers, loopback receiver)"
        m.add("webhooks.per_s", g, f"{hooks['events']} events: deliveries per second",
              round(hooks["deliveries_per_s"]), "deliveries/s", "higher", c)
        m.add("webhooks.delivered_once", g, "events delivered exactly once",
              hooks["delivered_once"], "events", "exact", c, exact=True)

    soak = load(run, "soak.json")
    if soak:
        raw["soak"] = soak
        c = soak.get("machine_cores", cores_here)
        g = f"Soak: {soak['seconds']} s of mixed load at {soak['target_rate']} req/s (after {soak['warm_up_seconds']} s warm-up)"
        m.add("soak.req_per_s", g, "requests per second achieved", round(soak["req_per_s"]), "req/s", "higher", c)
        m.add("soak.rss_start_mib", g, "server RSS at start", round(soak["rss_start_mib"], 1), "MiB", "lower", c)
        m.add("soak.rss_end_mib", g, "server RSS at end", round(soak["rss_end_mib"], 1), "MiB", "lower", c)
        m.add("soak.rss_peak_mib", g, "server RSS peak", round(soak["rss_peak_mib"], 1), "MiB", "lower", c)
        m.add("soak.rss_slope", g, "RSS slope over the second half", round(soak["rss_slope_mib_per_min"], 2),
              "MiB/min", "lower", c)
        errors = sum(n for s, n in soak["statuses"].items() if int(s) >= 500)
        m.add("soak.server_errors", g, "5xx responses", errors, "responses", "lower", c, exact=True)

    cold = load(run, "coldstart.json")
    if cold:
        raw["coldstart"] = cold
        c = cold.get("machine_cores", cores_here)
        g = f"Lambda cold start: process start to first Runtime API poll ({cold['runs']} runs, {cold['arch']})"
        for f in cold["functions"]:
            m.add(f"cold.{f['function']}.median_ms", g, f"{f['function']}: median", round(f["median_ms"], 2), "ms", "lower", c)
            m.add(f"cold.{f['function']}.p90_ms", g, f"{f['function']}: p90", round(f["p90_ms"], 2), "ms", "lower", c)

    build = load(run, "build.json")
    if build:
        raw["build"] = build
        c = build.get("machine_cores", cores_here)
        g = "Build and test (debug profile)"
        m.add("build.incremental_seconds", g,
              f"incremental rebuild of every test binary after touching {build['touched']}",
              build["incremental_rebuild_seconds"], "s", "lower", c)
        m.add("build.test_binaries", g, "test binaries", build["test_binaries"], "binaries", "lower", c,
              exact=True)
        if build.get("test_command_seconds") is not None:
            m.add("build.test_command_seconds", g, "the test command (infra/test.sh) from a clean clone",
                  build["test_command_seconds"], "s", "lower", c)

    pkg = load(run, "package.json")
    if pkg:
        raw["package"] = pkg
        g = "Package size (arm64 zip, as deployed; budget 8 MiB)"
        for f in pkg["functions"]:
            m.add(f"zip.{f['function']}", g, f"{f['function']}", round(f["zip_bytes"] / 1048576, 2), "MiB", "lower", None)
    return raw


def compare(row, previous):
    prev = previous.get(row["id"])
    if prev is None:
        return "", "new"
    pv = prev["value"]
    if row["exact"] or row["better"] == "exact":
        return pv, "same" if pv == row["value"] else "CHANGED"
    if pv == 0:
        return pv, "same" if row["value"] == 0 else "changed"
    change = (row["value"] - pv) / abs(pv) * 100
    if abs(change) < NOISE_PERCENT:
        return pv, f"{change:+.1f}% (noise)"
    good = (change > 0) == (row["better"] == "higher")
    return pv, f"{change:+.1f}% ({'better' if good else 'worse'})"


def fmt(v, unit=""):
    if unit == "ratio":
        return f"{v:.3f}"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.2f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def charts(raw, out):
    made = []
    api = raw.get("api_load")
    if api:
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, name in [("get", "GET campaign"), ("post", "POST campaign")]:
            pts = api[key].get("distribution_ms")
            if pts:
                ax.plot([p[1] for p in pts], [p[0] for p in pts], label=f"{name} ({api[key]['req_per_s']:.0f} req/s)")
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("percentile")
        ax.set_title(f"API latency distribution ({api['connections']} connections, {api.get('machine_cores')} cores)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "latency.png"), dpi=100)
        plt.close(fig)
        made.append(("latency.png", "API latency distribution"))
    demos = raw.get("demo")
    if demos:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        for i, d in enumerate(demos):
            left = 0.0
            for j, stage in enumerate(STAGES):
                secs = sum(s["seconds"] for s in d["stage_seconds"] if s["stage"] == stage)
                ax.barh(i, secs, left=left, color=f"C{j}", label=stage if i == 0 else None)
                left += secs
            rest = d["total_seconds"] - left
            ax.barh(i, rest, left=left, color="lightgrey", label="downloads, contact sheet" if i == 0 else None)
        ax.set_yticks(range(len(demos)), [f"run {i + 1}" for i in range(len(demos))])
        ax.set_xlabel("seconds")
        ax.set_title("reelforge demo (en, ja, ko): time per stage")
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
        fig.tight_layout()
        fig.savefig(os.path.join(out, "demo_stages.png"), dpi=100)
        plt.close(fig)
        made.append(("demo_stages.png", "Demo time per stage"))
    render = raw.get("render_speed")
    if render or demos:
        fig, ax = plt.subplots(figsize=(7, 3))
        labels, values = [], []
        if render:
            for i, s in enumerate(render["runs"]):
                labels.append(f"bench run {i + 1}\n(1 video)")
                values.append(s)
        for i, d in enumerate(demos or []):
            rendering = [s["seconds"] for s in d["stage_seconds"] if s["stage"] == "rendering"]
            if rendering:
                labels.append(f"demo run {i + 1}\n(3 videos)")
                values.append(sum(v["duration_seconds"] for v in d["videos"]) / rendering[0])
        ax.bar(range(len(values)), values, color="C2")
        ax.axhline(8, color="C3", linestyle="--", label="goal 8x")
        ax.set_xticks(range(len(values)), labels, fontsize=7)
        ax.set_ylabel("output s per wall s")
        ax.set_title("Render speed (1080x1920, local ffmpeg)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "render_speed.png"), dpi=100)
        plt.close(fig)
        made.append(("render_speed.png", "Render speed"))
    soak = raw.get("soak")
    if soak:
        fig, ax = plt.subplots(figsize=(7, 3))
        ts = [p[0] for p in soak["rss_samples"]]
        ax.plot(ts, [p[1] for p in soak["rss_samples"]], color="C4")
        ax.axvline(soak["warm_up_seconds"], color="grey", linestyle=":", label="end of warm-up")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("seconds")
        ax.set_ylabel("server RSS (MiB)")
        ax.set_title(f"Soak: server memory under {soak['req_per_s']:.0f} req/s of mixed load")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "soak_rss.png"), dpi=100)
        plt.close(fig)
        made.append(("soak_rss.png", "Soak memory"))
    cold = raw.get("coldstart")
    if cold:
        fs = cold["functions"]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.barh(range(len(fs)), [f["median_ms"] for f in fs], color="C0", label="median")
        ax.scatter([f["p90_ms"] for f in fs], range(len(fs)), color="C3", marker="|", s=200, label="p90")
        ax.set_yticks(range(len(fs)), [f["function"] for f in fs], fontsize=7)
        ax.set_xlabel("ms")
        ax.set_title("Lambda cold start (process start to first poll)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "coldstart.png"), dpi=100)
        plt.close(fig)
        made.append(("coldstart.png", "Cold start per function"))
    return made


def main():
    run, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    previous_path = os.path.join(out, "report.json")
    previous, previous_meta = {}, None
    if os.path.exists(previous_path):
        with open(previous_path) as f:
            prev = json.load(f)
        previous = {r["id"]: r for r in prev.get("metrics", [])}
        previous_meta = {k: prev.get(k) for k in ("date", "commit", "machine")}
    here = machine()
    m = Metrics()
    raw = collect(run, m, here["cores"])
    made = charts(raw, out)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    report = {"date": now, "command": "make bench", "commit": git_commit(out), "machine": here,
              "run": run, "metrics": m.rows, "previous": previous_meta, "raw": raw}

    lines = [
        "# Benchmark report",
        "",
        f"- **Command:** `make bench` (`bash infra/bench.sh`), {now}, commit `{report['commit']}`",
        f"- **Machine:** {here['cores']} cores ({here['cpu']}, {here['arch']}), {here['memory_gib']} GiB, Linux {here['kernel']}",
    ]
    if previous_meta:
        pm = previous_meta["machine"] or {}
        lines.append(f"- **Compared with:** the previous report, {previous_meta['date']}, commit `{previous_meta['commit']}`, "
                     f"{pm.get('cores')} cores" + (" (a different machine size: compare with care)" if pm.get("cores") != here["cores"] else ""))
    else:
        lines.append("- **Compared with:** no previous report in this directory; the next run will compare with this one.")
    lines += [
        f"- Changes under {NOISE_PERCENT:.0f} % are marked as noise; exact figures (round trips, admissions) must not change.",
        "- How each figure is measured: [../benchmarks.md](../benchmarks.md). Raw results: `report.json` (`raw`).",
        "",
    ]
    group = None
    for r in m.rows:
        if r["group"] != group:
            group = r["group"]
            lines += ["", f"## {group}", "", "| figure | value | previous | change | machine |", "|---|---|---|---|---|"]
        prev, verdict = compare(r, previous)
        cores = f"{r['cores']} cores" if r["cores"] else "—"
        prev_s = f"{fmt(prev, r['unit'])} {r['unit']}" if prev != "" else "—"
        lines.append(f"| {r['label']} | **{fmt(r['value'], r['unit'])} {r['unit']}** | {prev_s} | {verdict} | {cores} |")
    if made:
        lines += ["", "## Charts", ""]
        for name, title in made:
            lines += [f"![{title}]({name})", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(previous_path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"report: {os.path.join(out, 'report.md')} ({len(m.rows)} figures, {len(made)} charts)")


if __name__ == "__main__":
    main()
