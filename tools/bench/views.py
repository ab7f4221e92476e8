#!/usr/bin/env python3
"""Read-side benchmark (issue 4's bars): loads N consumes spread over a month, models, users,
pods, tasks and operations into a release tokenledgerd, then measures

  rebuild    all read models from the log (the daemon's own `seconds`)   bar >= 500,000 events/s
  report     a month report by model, over and over (client round trip)    bar p50 < 20 ms
  export     `tokenledger audit --format ndjson --output FILE` (all events) bar >= 200,000 events/s

usage: tools/bench/views.py [--events N] [--daemon PATH] [--cli PATH] [--keep]
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, threading, time

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=1_000_000)
ap.add_argument("--daemon", default=os.path.join(root, ".build/release/tokenledgerd"))
ap.add_argument("--cli", default=os.path.join(root, ".build/release/tokenledger"))
ap.add_argument("--connections", type=int, default=4)
ap.add_argument("--keep", action="store_true")
a = ap.parse_args()

tmp = tempfile.mkdtemp(prefix="tl-views-bench-")
sock = os.path.join(tmp, "s.sock")
log = open(os.path.join(tmp, "daemon.log"), "w")
daemon = subprocess.Popen([a.daemon, "--data", os.path.join(tmp, "data"), "--socket", sock,
                           "--clock", "manual=2026-01-01T00:00:00.000Z", "--read-wait-ms", "60000"],
                          stdout=log, stderr=log)

def connect():
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(sock); return s
        except OSError:
            time.sleep(0.05)
    sys.exit("daemon did not start")

class Conn:
    def __init__(self):
        self.s = connect(); self.f = self.s.makefile("rb")
    def call(self, o):
        self.s.sendall((json.dumps(o) + "\n").encode())
        r = json.loads(self.f.readline())
        if not r.get("ok"): sys.exit(f"{o} -> {r}")
        return r
    def pipeline(self, lines, window=2000):
        sent = got = 0
        while got < len(lines):
            if sent < len(lines) and sent - got < window:
                chunk = lines[sent:sent + 500]
                self.s.sendall(b"".join(chunk)); sent += len(chunk)
                continue
            r = self.f.readline()
            if b'"ok":true' not in r: sys.exit(r.decode())
            got += 1

c = Conn()
c.call({"op": "team.create", "team": "bench", "plan": "enterprise", "timezone": "Europe/Madrid"})
users = [f"u{i}" for i in range(10)]
pods = [f"p{i}" for i in range(5)]
for u in users: c.call({"op": "user.add", "team": "bench", "user": u})
for p in pods: c.call({"op": "pod.create", "team": "bench", "pod": p})

days = 30
per_day = a.events // days
models = [f"model-{i}" for i in range(14)]
ops = ["chat", "image", "video", "audio"]
t0 = time.time()
n = 0
for day in range(days):
    lines = []
    for i in range(per_day):
        k = n + i
        o = {"op": "consume", "team": "bench", "user": users[k % 10], "pod": pods[k % 5], "task": f"task-{k % 500}",
             "model": models[(k * 3) % 14], "operation": ops[k % 4], "cost": 1 + k % 50,
             "input_tokens": k % 1000, "output_tokens": k % 300, "key": f"v{k}"}
        lines.append((json.dumps(o, separators=(",", ":")) + "\n").encode())
    parts = [lines[j::a.connections] for j in range(a.connections)]
    threads = [threading.Thread(target=lambda p=p: Conn().pipeline(p)) for p in parts]
    for t in threads: t.start()
    for t in threads: t.join()
    n += per_day
    c.call({"op": "clock.advance", "seconds": 86400})
    print(f"\rloaded {n:,} consumes", end="", file=sys.stderr)
load_s = time.time() - t0
head = c.call({"op": "ping"})["seq"]
print(f"\nloaded {n:,} consumes in {load_s:.1f} s ({n / load_s:,.0f}/s); log head {head:,}", file=sys.stderr)
c.call({"op": "report", "team": "bench", "period": "month", "by": "model"})  # waits for the projectors

r = c.call({"op": "rebuild"})
rebuild_rate = r["events"] / float(r["seconds"])
print(f"rebuild   {r['events']:,} events x {len(r['rebuilt'])} read models in {r['seconds']} s: {rebuild_rate:,.0f} events/s (bar 500,000)")
for name in ["daily", "pods", "reports", "audit_teams"]:
    r1 = c.call({"op": "rebuild", "projection": name})
    print(f"          {name:12} alone: {r1['events'] / float(r1['seconds']):,.0f} events/s")

lat = []
for _ in range(200):
    s = time.perf_counter()
    rows = c.call({"op": "report", "team": "bench", "period": "month", "by": "model"})["rows"]
    lat.append((time.perf_counter() - s) * 1000)
lat.sort()
print(f"report    month by model over {head:,} events ({len(rows)} rows): p50 {lat[100]:.2f} ms, p99 {lat[198]:.2f} ms, max {lat[-1]:.2f} ms (bar < 20 ms)")
s = time.perf_counter(); c.call({"op": "usage", "team": "bench"}); u_ms = (time.perf_counter() - s) * 1000
print(f"usage     {u_ms:.2f} ms")

out = os.path.join(tmp, "export.ndjson")
if os.path.exists(a.cli):
    s = time.perf_counter()
    p = subprocess.run([a.cli, "audit", "--socket", sock, "--format", "ndjson", "--output", out],
                       capture_output=True, text=True)
    secs = time.perf_counter() - s
    if p.returncode == 0:
        lines = sum(1 for _ in open(out, "rb"))
        print(f"export    {lines:,} events to ndjson in {secs:.2f} s: {lines / secs:,.0f} events/s (bar 200,000)")
    else:
        print(f"export    failed: {p.stderr.strip()[:300]}")
daemon.terminate(); daemon.wait()
if not a.keep: shutil.rmtree(tmp)
