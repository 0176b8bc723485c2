#!/usr/bin/env bash
# Cold start of each Lambda function binary on this machine: from process start to its
# first poll of the Lambda Runtime API (GET /2018-06-01/runtime/invocation/next), which
# is where Lambda's "Init Duration" ends. A small local Runtime API (Python) records the
# poll; each function runs with the environment Lambda gives it (region, credentials in
# the environment, function name and memory) plus ours (table, queue URLs), and
# AWS_ENDPOINT_URL points at a closed local port, so any network call at init would show
# up as an error rather than reach AWS. No network is expected: the SDK clients are built
# from the environment and connect lazily.
#
#   bash infra/coldstart.sh            # native (x86_64) release binaries, 30 runs each
#   RUNS=100 bash infra/coldstart.sh
#   COLDSTART_JSON=out.json ...       # also write the figures as JSON (infra/bench.sh)
#
# Binaries are built with the release profile (what Lambda runs, for this CPU) into a
# target dir of their own at low priority.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh

need_cargo
RUNS="${RUNS:-30}"
TARGET_DIR="${COLDSTART_TARGET_DIR:-target/coldstart}"
functions=()
for dir in functions/*/; do functions+=("$(basename "$dir")"); done

if [ "${COLDSTART_SKIP_BUILD:-0}" != 1 ]; then
  step "building ${functions[*]} (release, native; one build per function, as deployed)"
  # One cargo invocation per function: features are resolved per package, so each
  # binary links only the SDKs its Cargo.toml names (one invocation for all of them
  # would unify the features and link every SDK into every function).
  for f in "${functions[@]}"; do
    CARGO_TARGET_DIR="$TARGET_DIR" nice -n 15 cargo build --release -q -p "$f"
  done
fi

step "measuring process start -> first Runtime API poll ($RUNS runs each)"
bins=()
for f in "${functions[@]}"; do bins+=("$TARGET_DIR/release/$f"); done
python3 - "$RUNS" "${bins[@]}" <<'PY'
import http.server, os, socket, statistics, subprocess, sys, tempfile, threading, time

runs = int(sys.argv[1])
bins = sys.argv[2:]

class Runtime(http.server.BaseHTTPRequestHandler):
    """A Lambda Runtime API that notes the first poll and never hands out an event."""
    polled = None  # (threading.Event, [time])

    def do_GET(self):
        if self.path == "/2018-06-01/runtime/invocation/next" and Runtime.polled:
            ev, stamp = Runtime.polled
            if not ev.is_set():
                stamp.append(time.perf_counter())
                ev.set()
        # Hold the poll open like Lambda does between invocations; the process is
        # killed while it waits.
        time.sleep(2)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
api = f"127.0.0.1:{server.server_address[1]}"

# A port nothing listens on: any SDK call at init fails fast instead of leaving the box.
s = socket.socket(); s.bind(("127.0.0.1", 0)); closed_port = s.getsockname()[1]; s.close()
home = tempfile.mkdtemp(prefix="reelforge-coldstart-")

def env_for(name):
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,  # an empty home: no ~/.aws files, as on Lambda
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/22/[$LATEST]coldstart",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "coldstart",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
        "REELFORGE_TABLE": "reelforge-prod",
        "REELFORGE_QUEUE_URL_COLLECT": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-collect",
        "REELFORGE_QUEUE_URL_WEBHOOK": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-webhook",
        "REELFORGE_QUEUE_URL_PROCESS": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-process",
        "REELFORGE_QUEUE_URL_SCRIPT": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-script",
        "REELFORGE_QUEUE_URL_VOICEOVER": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-voiceover",
        "REELFORGE_QUEUE_URL_RENDER": "https://sqs.us-east-1.amazonaws.com/123456789012/reelforge-prod-render",
        "REELFORGE_STAGE": "prod",
        "REELFORGE_MEDIA_BUCKET": "reelforge-prod-media",
        "REELFORGE_MEDIACONVERT_ROLE_ARN": "arn:aws:iam::123456789012:role/reelforge-prod-mediaconvert",
        "REELFORGE_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-4000-8000-000000000000",
        "RUST_LOG": "info",
    }

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]

def once(argv, env):
    ev, stamp = threading.Event(), []
    Runtime.polled = (ev, stamp)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = ev.wait(10)
    proc.kill()
    _, err = proc.communicate()
    if not ok:
        sys.exit(f"{argv[0]}: no Runtime API poll within 10 s; stderr:\n{err.decode(errors='replace')}")
    return (stamp[0] - start) * 1000

# Baseline: starting a trivial process and seeing it exit, on the same machine.
base = []
for _ in range(runs):
    t = time.perf_counter(); subprocess.run(["/bin/true"]); base.append((time.perf_counter() - t) * 1000)

results = []
print(f"{'function':<22} {'binary MiB':>10} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}")
for path in bins:
    name = os.path.basename(path)
    env = env_for(name)
    once([path], env)  # warm the page cache, as Lambda's own image cache is
    times = [once([path], env) for _ in range(runs)]
    size = os.path.getsize(path) / 1048576
    print(f"{name:<22} {size:>10.2f} {statistics.median(times):>10.2f} {pct(times, 90):>8.2f} {max(times):>8.2f}")
    results.append({"function": name, "binary_mib": size, "median_ms": statistics.median(times),
                    "p90_ms": pct(times, 90), "max_ms": max(times)})
print(f"{'(/bin/true, baseline)':<22} {'':>10} {statistics.median(base):>10.2f} {pct(base, 90):>8.2f} {max(base):>8.2f}")
print(f"runs: {runs} per function; {os.cpu_count()} cores; {os.uname().machine}")
if os.environ.get("COLDSTART_JSON"):
    import json
    with open(os.environ["COLDSTART_JSON"], "w") as f:
        json.dump({"runs": runs, "machine_cores": os.cpu_count(), "arch": os.uname().machine,
                   "functions": results, "baseline_true_median_ms": statistics.median(base)}, f, indent=2)
server.shutdown()
PY
