#!/usr/bin/env python3
"""tokenledger-hostile: what hostile clients do to a normal gateway's latency and to the daemon's memory.

For each attack it starts a release `tokenledgerd` on a fresh data directory (manual clock, so no real
midnight falls inside the run), creates team `gw` on plan `enterprise` with user `u1`, and starts a
normal gateway: a few connections pipelining `consume` requests at a steady open-loop rate (well below
saturation, so latency means something). It measures the gateway's ack latency for a window before the
attack and a window during it, and samples the daemon's /proc/PID/status (VmRSS, RssAnon) all along.

The attacker is this same script re-executed under `taskset -c 1`; the gateway runs on core 0.

Attacks (--attack NAME, repeatable; default: all of them, after `none`):
  none          no attack: the noise floor of the p99 ratio on this machine
  long-line     a 1 GiB line without a newline, on a new connection --line-rate times a second: each
                must get `line_too_long` and be closed once --max-line + 1 bytes are buffered
  long-line-flood
                the same, each next line as soon as the last one is closed (about 1,000 a second)
  connections   10,000 connections opened at once and held (over --max-connections each must get one
                `unavailable` line and be closed)
  connection-flood
                the same, but each refused connection connects again at once, for the whole window
  slowloris     1,000 clients: --idlers of them send one ping and then nothing; of the rest, half
                trickle a partial line one byte per second, half send nothing; a client the daemon
                closes reconnects. The notes say how long each kind lived before the daemon closed it
  subscriber    subscribers that never read (`subscribe` from seq 0) while the gateway streams:
                RSS and map_used per appended event must stay flat (no pinned read transaction)
  pipeline      one client pipelines 1,000,000 consumes and never reads an answer: the daemon must
                bound what it holds for it and stop reading from it

Bars (exit 3 with --check when one is missed): gateway p99 during <= 2 x p99 before, daemon RssAnon
growth <= 64 MiB (VmRSS is shown too, but it also counts the pages of the log that LMDB maps, which
grow with every event the gateway appends), the daemon alive, every gateway answer ok, and each attack's own expectation
(for example every long line answered `line_too_long`).
"""

import argparse
import array
import json
import multiprocessing as mp
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MIB = 1024 * 1024
ATTACKS = ["none", "long-line", "long-line-flood", "connections", "connection-flood", "slowloris", "subscriber", "pipeline"]
CLOCK = "manual=2026-01-01T00:00:00.000Z"


def log(msg):
    print(f"[hostile] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the daemon and /proc


class Daemon:
    """A tokenledgerd on a fresh directory; its stderr goes to DIR/daemon.log."""

    def __init__(self, exe, base, extra_args, nofile=None):
        self.dir = tempfile.mkdtemp(prefix="hostile.", dir=base)
        self.socket = os.path.join(self.dir, "s")
        self.log_path = os.path.join(self.dir, "daemon.log")
        args = [exe, "--data", os.path.join(self.dir, "data"), "--socket", self.socket, "--clock", CLOCK,
                "--log-level", "warning"] + extra_args
        self.args = args

        def limit():
            if nofile:  # the soft limit only, as systemd does (soft 1024, a high hard limit)
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=limit)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"tokenledgerd exited with {self.proc.returncode} before serving:\n"
                                 + open(self.log_path).read())
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.socket)
                s.close()
                return
            except OSError:
                s.close()
            if time.monotonic() > deadline:
                raise SystemExit(f"tokenledgerd did not serve on {self.socket} within 60 s")
            time.sleep(0.02)

    def alive(self):
        return self.proc.poll() is None

    def status(self):
        """VmRSS, RssAnon, VmHWM in KiB and the thread count, from /proc/PID/status."""
        out = {}
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                        out[k] = int(v.split()[0])
        except OSError:
            pass
        return out

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def nofile_limit(self):
        try:
            with open(f"/proc/{self.pid}/limits") as f:
                for line in f:
                    if line.startswith("Max open files"):
                        return int(line.split()[3])
        except (OSError, ValueError):
            pass
        return None

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, keep):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


class Client:
    """A blocking request/answer connection (admin: the daemon's own uid)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""

    def call(self, **req):
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("daemon closed the admin connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"{req.get('op')}: {answer}")
        return answer


# ---------------------------------------------------------------- the gateway


def gateway_main(path, connections, rate, stop, conn_out, prefix):
    """Open-loop consumes at `rate`/s over `connections` connections, on core 0. Latency is measured from
    each request's scheduled send time, so a stalled daemon shows as latency, not as fewer requests.
    Sends back (scheduled time, latency) pairs; a request unanswered at the end has latency inf."""
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        pass
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(connections):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        c = {"sock": s, "out": bytearray(), "inbuf": b"", "sent": [], "head": 0, "i": i}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    t_send = array.array("d")
    lat = array.array("d")
    errors = 0
    first_error = None
    interval = 1.0 / rate
    n = 0
    start = time.monotonic()
    next_t = start
    lag_max = 0.0
    stopping_at = None
    while True:
        now = time.monotonic()
        if stopping_at is None and stop.is_set():
            stopping_at = now
        if stopping_at is None:
            if now - next_t > lag_max:
                lag_max = now - next_t
            while next_t <= now:
                c = conns[n % connections]
                c["out"] += b'{"op":"consume","team":"gw","user":"u1","model":"m","cost":1,"key":"%s%d"}\n' % (
                    prefix, n)
                c["sent"].append(next_t)
                n += 1
                next_t += interval
        else:
            pending = sum(len(c["sent"]) - c["head"] for c in conns)
            if pending == 0 or now - stopping_at > 10:
                break
        for c in conns:
            if c["out"]:
                try:
                    k = c["sock"].send(c["out"])
                    del c["out"][:k]
                except BlockingIOError:
                    pass
        timeout = 0.05 if stopping_at is not None else max(0.0, next_t - time.monotonic())
        for key, _ in sel.select(timeout):
            c = key.data
            try:
                chunk = c["sock"].recv(262144)
            except BlockingIOError:
                continue
            if not chunk:
                raise SystemExit(f"gateway connection {c['i']} closed by the daemon")
            data = c["inbuf"] + chunk
            lines = data.split(b"\n")
            c["inbuf"] = lines.pop()
            t = time.monotonic()
            for line in lines:
                sent = c["sent"][c["head"]]
                c["head"] += 1
                t_send.append(sent)
                lat.append(t - sent)
                if b'"ok":true' not in line:
                    errors += 1
                    if first_error is None:
                        first_error = line[:300].decode(errors="replace")
            if c["head"] > 65536:
                del c["sent"][:c["head"]]
                c["head"] = 0
    for c in conns:
        for sent in c["sent"][c["head"]:]:
            t_send.append(sent)
            lat.append(float("inf"))
        c["sock"].close()
    conn_out.send_bytes(t_send.tobytes())
    conn_out.send_bytes(lat.tobytes())
    conn_out.send({"sent": n, "errors": errors, "first_error": first_error, "sender_lag_max_s": lag_max})
    conn_out.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[i]


def window_stats(t_send, lat, t0, t1):
    vals = sorted(l for t, l in zip(t_send, lat) if t0 <= t < t1)
    return {
        "requests": len(vals),
        "p50_ms": _ms(percentile(vals, 50)),
        "p99_ms": _ms(percentile(vals, 99)),
        "p999_ms": _ms(percentile(vals, 99.9)),
        "max_ms": _ms(vals[-1] if vals else None),
        "unanswered": sum(1 for v in vals if v == float("inf")),
    }


def _ms(v):
    if v is None:
        return None
    return float("inf") if v == float("inf") else round(v * 1000, 3)


# ---------------------------------------------------------------- attackers (run under taskset -c 1)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connect_nb(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:  # the listen backlog is full: try again later
        s.close()
        return None
    except OSError:
        s.close()
        raise
    return s


def attack_none(args):
    time.sleep(args.seconds)
    return {}


def attack_long_line(args, flood=False):
    """Send a 1 GiB line on one connection after another for the window, --line-rate a second (with
    `flood`, as fast as they are closed); each must be answered `line_too_long` and closed. Reports what
    the client got written before the close (that includes the kernel's socket buffers, so it is an
    upper bound on what the daemon buffered)."""
    chunk = b"x" * MIB
    total = args.line_bytes
    deadline = time.monotonic() + args.seconds
    tries, written_list, answers, stuck, close_s = 0, [], {}, 0, []
    next_t = time.monotonic()
    while time.monotonic() < deadline:
        if not flood:
            time.sleep(max(0.0, next_t - time.monotonic()))
            next_t += 1.0 / args.line_rate
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(args.socket)
        s.settimeout(10)
        sent = 0
        t0 = time.monotonic()
        try:
            while sent < total:
                sent += s.send(chunk[: min(len(chunk), total - sent)])
        except (BrokenPipeError, ConnectionResetError):
            pass
        except socket.timeout:
            stuck += 1  # the daemon neither reads nor closes
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except (socket.timeout, ConnectionResetError):
            pass
        close_s.append(time.monotonic() - t0)
        s.close()
        tries += 1
        written_list.append(sent)
        code = "none"
        try:
            code = json.loads(data.split(b"\n")[0])["error"]["code"]
        except Exception:
            if data:
                code = "unparsable"
        answers[code] = answers.get(code, 0) + 1
    return {"lines": tries, "answers": answers, "written_min": min(written_list, default=0),
            "written_max": max(written_list, default=0), "stuck": stuck,
            "close_s_max": round(max(close_s, default=0), 3)}


def attack_connections(args, reconnect=False):
    """Open --conns connections and hold them for the window. Over the limit each must get one
    `unavailable` line and EOF. With `reconnect` (connection-flood) a refused one connects again at once,
    for the whole window. Counts refused, silently closed and other endings."""
    limit = raise_nofile(args.conns + 256)
    want = min(args.conns, limit - 64)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + args.seconds
    t0 = time.monotonic()
    opened, refused, silent_close, other_lines, eagain = 0, 0, 0, {}, 0
    live = 0
    first_refusal_line = None
    open_all_s = None
    while time.monotonic() < deadline:
        # open up to `want` at once, and reconnect those that were refused
        while live < want and (reconnect or opened < want) and time.monotonic() < deadline:
            try:
                s = connect_nb(args.socket)
            except OSError as e:
                other_lines[f"connect {e.errno}"] = other_lines.get(f"connect {e.errno}", 0) + 1
                break
            if s is None:
                eagain += 1
                break
            sel.register(s, selectors.EVENT_READ, [b""])
            live += 1
            opened += 1
        if open_all_s is None and opened >= want:
            open_all_s = time.monotonic() - t0
        for key, _ in sel.select(0.01):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except (ConnectionResetError, BlockingIOError):
                d = b""
            if d:
                key.data[0] += d
                continue
            line = key.data[0].split(b"\n")[0]
            if b'"unavailable"' in line:
                refused += 1
                first_refusal_line = first_refusal_line or line.decode()
            elif not line:
                silent_close += 1
            else:
                k = line[:80].decode(errors="replace")
                other_lines[k] = other_lines.get(k, 0) + 1
            sel.unregister(s)
            s.close()
            live -= 1
    held = live
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return {"nofile": limit, "target": want, "connects": opened, "held_open_at_end": held,
            "refused_unavailable": refused, "closed_silently": silent_close, "other": other_lines,
            "backlog_full_retries": eagain, "first_refusal": first_refusal_line,
            "seconds_to_open_target": round(open_all_s, 2) if open_all_s is not None else None}


def attack_slowloris(args):
    """--conns clients: half trickle `{"op":"ping","id":"` and then one byte per second per client,
    never a newline; the other half send nothing; --idlers send one ping, read its answer, then nothing.
    A client the daemon closes reconnects. Reports how long each closed one had lived."""
    limit = raise_nofile(args.conns + 256)
    n = min(args.conns, limit - 64)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + args.seconds
    idlers = min(args.idlers, n)
    kinds = ["trickle" if i % 2 == 0 else "silent" for i in range(n - idlers)] + ["idle-after-ping"] * idlers
    closed = {k: [] for k in ("trickle", "silent", "idle-after-ping")}
    answers = {}
    clients = []
    trickle_bytes = 0

    def open_client(kind, c=None):
        s = None
        give_up = time.monotonic() + 10
        while s is None:  # a full listen backlog answers EAGAIN: wait for the daemon to accept
            s = connect_nb(args.socket)
            if s is None:
                if time.monotonic() > give_up:
                    raise OSError("listen backlog full for 10 s")
                time.sleep(0.001)
        c = c if c is not None else {}
        c.update({"sock": s, "kind": kind, "t0": time.monotonic(), "next": time.monotonic() + 1.0, "buf": b""})
        if kind == "trickle":
            s.send(b'{"op":"ping","id":"')
        elif kind == "idle-after-ping":
            s.send(b'{"op":"ping"}\n')
        sel.register(s, selectors.EVENT_READ, c)
        return c

    for kind in kinds:
        clients.append(open_client(kind))
    opened_s = round(args.seconds - (deadline - time.monotonic()), 2)
    reconnects = 0
    while time.monotonic() < deadline:
        now = time.monotonic()
        for c in clients:
            if c["kind"] == "trickle" and now >= c["next"] and c["sock"] is not None:
                try:
                    c["sock"].send(b"a")
                    trickle_bytes += 1
                except OSError:  # full, or closed by the daemon: its EOF comes through select
                    pass
                c["next"] = now + 1.0
        for key, _ in sel.select(0.05):
            c = key.data
            try:
                d = c["sock"].recv(4096)
            except (ConnectionResetError, BlockingIOError):
                d = b""
            if d:
                c["buf"] += d
                continue
            for line in c["buf"].split(b"\n"):
                if not line:
                    continue
                try:
                    a = json.loads(line)
                    code = "ok" if a.get("ok") else a["error"]["code"]
                except Exception:
                    code = "unparsable"
                answers[code] = answers.get(code, 0) + 1
            closed[c["kind"]].append(time.monotonic() - c["t0"])
            sel.unregister(c["sock"])
            c["sock"].close()
            c["sock"] = None
            try:
                open_client(c["kind"], c)
            except OSError:
                continue
            reconnects += 1
    for c in clients:
        if c["sock"] is not None:
            c["sock"].close()

    def summary(v):
        v = sorted(v)
        return {"closed": len(v), "age_s_min": round(v[0], 2) if v else None,
                "age_s_median": round(v[len(v) // 2], 2) if v else None,
                "age_s_max": round(v[-1], 2) if v else None}

    return {"clients": len(kinds), "seconds_to_open": opened_s, "trickled_bytes": trickle_bytes,
            "reconnects": reconnects, "answers_before_close": answers,
            **{k: summary(v) for k, v in closed.items()}}


def attack_subscriber(args):
    """--subscribers connections send `subscribe` from seq 0 and never read."""
    socks = []
    for _ in range(args.subscribers):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(args.socket)
        s.sendall(b'{"op":"subscribe","after_seq":0}\n')
        socks.append(s)
    time.sleep(args.seconds)
    # how much the daemon got into our receive buffers
    queued = 0
    for s in socks:
        s.setblocking(False)
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                queued += len(d)
        except BlockingIOError:
            pass
        s.close()
    return {"subscribers": len(socks), "bytes_waiting_unread": queued}


def attack_pipeline(args):
    """--pipeliners connections (1) each pipeline --requests consumes (team `atk`) as fast as the socket
    takes them and never read. Reports what got written and when writing stopped making progress."""
    import select
    limit = raise_nofile(args.pipeliners + 256)
    conns = []
    for j in range(min(args.pipeliners, limit - 64)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(args.socket)
        s.setblocking(False)
        conns.append({"sock": s, "j": j, "buf": bytearray(), "i": 0, "closed": None})
    deadline = time.monotonic() + args.seconds
    t0 = time.monotonic()
    written = 0
    lines_done = 0
    last_progress = t0
    closed = {}
    while time.monotonic() < deadline:
        progress = False
        for c in conns:
            if c["closed"]:
                continue
            while len(c["buf"]) < 65536 and c["i"] < args.requests:
                c["buf"] += b'{"op":"consume","team":"atk","user":"u1","model":"m","cost":1,"key":"p%d-%d"}\n' % (
                    c["j"], c["i"])
                c["i"] += 1
            if not c["buf"]:
                continue
            try:
                k = c["sock"].send(c["buf"])
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError) as e:
                c["closed"] = type(e).__name__
                closed[c["closed"]] = closed.get(c["closed"], 0) + 1
                continue
            lines_done += c["buf"][:k].count(b"\n")
            del c["buf"][:k]
            written += k
            progress = True
        if progress:
            last_progress = time.monotonic()
        else:
            select.select([], [c["sock"] for c in conns if not c["closed"]][:500], [], 0.1)
    unread = 0
    for c in conns:
        try:
            while True:
                d = c["sock"].recv(1 << 20)
                if not d:
                    break
                unread += len(d)
        except (BlockingIOError, ConnectionResetError):
            pass
        c["sock"].close()
    return {"pipeliners": len(conns), "requests_written": lines_done, "bytes_written": written,
            "writes_stalled_after_s": round(last_progress - t0, 2),
            "answer_bytes_waiting_unread": unread, "closed_by_daemon": closed}


ATTACKERS = {"none": attack_none, "long-line": attack_long_line, "connections": attack_connections,
             "connection-flood": lambda args: attack_connections(args, reconnect=True),
             "long-line-flood": lambda args: attack_long_line(args, flood=True),
             "slowloris": attack_slowloris, "subscriber": attack_subscriber, "pipeline": attack_pipeline}


def attacker_main(args):
    result = ATTACKERS[args.attacker](args)
    result["cpus"] = sorted(os.sched_getaffinity(0))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- one attack


def daemon_flags(exe):
    """The optional flags this daemon build knows (the timeouts came later than the limits)."""
    out = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    return {f for f in ("--line-timeout-seconds", "--idle-timeout-seconds", "--max-buffered-input-mib")
            if f in out}


def run_attack(name, args, known_flags):
    extra = list(args.daemon_arg)
    if "--line-timeout-seconds" in known_flags and args.line_timeout is not None:
        extra += ["--line-timeout-seconds", str(args.line_timeout)]
    if "--idle-timeout-seconds" in known_flags and args.idle_timeout is not None and name == "slowloris":
        extra += ["--idle-timeout-seconds", str(args.idle_timeout)]
    d = Daemon(args.daemon, args.tmp, extra, nofile=args.daemon_nofile)
    log(f"{name}: tokenledgerd pid {d.pid} in {d.dir} ({' '.join(extra) or 'default flags'})")
    admin = Client(d.socket)
    for team in ("gw", "atk"):
        admin.call(op="team.create", team=team, plan="enterprise", key=f"t-{team}")
        admin.call(op="user.add", team=team, user="u1", key=f"u-{team}")

    samples = []  # (t, VmRSS KiB, RssAnon KiB, fds)
    stat_samples = []  # (t, stats answer): once a second, which also keeps the admin connection from idling out
    last_stats = [0.0]

    def sample():
        if time.monotonic() - last_stats[0] >= 1.0 and d.alive():
            last_stats[0] = time.monotonic()
            try:
                stat_samples.append((last_stats[0], admin.call(op="stats")))
            except (OSError, RuntimeError, ValueError):
                pass
        st = d.status()
        # listing 10,000 fds costs the gateway's core something: once a second is enough
        fds = d.fds() if args.fds and len(samples) % max(1, int(1 / args.sample_interval)) == 0 else None
        samples.append((time.monotonic(), st.get("VmRSS"), st.get("RssAnon"), fds))

    stop = mp.Event()
    rx, tx = mp.Pipe(duplex=False)
    gw = mp.Process(target=gateway_main,
                    args=(d.socket, args.gateway_connections, args.rate, stop, tx, b"g"), daemon=True)
    gw.start()
    tx.close()

    def wait(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sample()
            if not d.alive():
                return
            time.sleep(min(args.sample_interval, max(0.0, end - time.monotonic())))

    wait(args.warmup)
    t_before = time.monotonic()
    stats_before = admin.call(op="stats")
    cpu_before = d.cpu_seconds()
    wait(args.seconds)
    t_attack = time.monotonic()
    cpu_attack = d.cpu_seconds()
    stats_attack = admin.call(op="stats")
    st0 = d.status()
    rss0, anon0 = st0.get("VmRSS", 0), st0.get("RssAnon", 0)
    me = os.path.abspath(__file__)
    cmd = [sys.executable, me, "--attacker", name, "--socket", d.socket, "--seconds", str(args.seconds),
           "--conns", str(args.conns), "--idlers", str(args.idlers), "--subscribers", str(args.subscribers),
           "--requests", str(args.requests), "--line-bytes", str(args.line_bytes),
           "--line-rate", str(args.line_rate), "--pipeliners", str(args.pipeliners)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", args.attacker_cpu] + cmd
    attacker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait(args.seconds)
    t_end = time.monotonic()
    cpu_end = d.cpu_seconds()
    alive_during = d.alive()
    stats_end = admin.call(op="stats") if alive_during else {}
    atk_balance = admin.call(op="balance", team="atk") if alive_during else {}
    peak_fds = max((s[3] for s in samples if s[3] is not None), default=None)
    try:
        out, err = attacker.communicate(timeout=args.seconds + 60)
    except subprocess.TimeoutExpired:
        attacker.kill()
        out, err = attacker.communicate()
    try:
        result = json.loads(out.strip().splitlines()[-1])
    except Exception:
        result = {"attacker_failed": (err or out)[-500:]}
    # after the attack: the daemon must be back to the gateway and the admin connection
    wait(args.settle)
    stats_after = admin.call(op="stats") if d.alive() else {}
    stop.set()
    t_send = array.array("d")
    lat = array.array("d")
    t_send.frombytes(rx.recv_bytes())
    lat.frombytes(rx.recv_bytes())
    gw_info = rx.recv()
    gw.join(30)
    rss_during = [(s[1] or 0, s[2] or 0) for s in samples if t_attack <= s[0] <= t_end]
    rss_peak = max((r for r, _ in rss_during), default=rss0)
    anon_peak = max((a for _, a in rss_during), default=anon0)
    before = window_stats(t_send, lat, t_before, t_attack)
    during = window_stats(t_send, lat, t_attack, t_end)
    ev_before = stats_attack["seq"] - stats_before["seq"]
    ev_during = stats_end.get("seq", 0) - stats_attack["seq"]
    map_before = stats_attack["map_used"] - stats_before["map_used"]
    map_during = stats_end.get("map_used", 0) - stats_attack["map_used"]
    row = {
        "attack": name,
        "before": before,
        "during": during,
        "p99_ratio": (round(during["p99_ms"] / before["p99_ms"], 2)
                      if before["p99_ms"] and during["p99_ms"] is not None else None),
        "rss_growth_mib": round((rss_peak - rss0) / 1024, 1),
        "rss_anon_growth_mib": round((anon_peak - anon0) / 1024, 1),
        "rss_at_attack_mib": round(rss0 / 1024, 1),
        "rss_anon_at_attack_mib": round(anon0 / 1024, 1),
        "map_used_per_event_before": round(map_before / ev_before, 1) if ev_before else None,
        "map_used_per_event_during": round(map_during / ev_during, 1) if ev_during else None,
        "map_used_growth_mib": {"before": round(map_before / MIB, 2), "during": round(map_during / MIB, 2)},
        "events": {"before": ev_before, "during": ev_during},
        "daemon_cpu_pct": {"before": _pct(cpu_attack, cpu_before, t_attack - t_before),
                           "during": _pct(cpu_end, cpu_attack, t_end - t_attack)},
        "connections": {"at_attack": stats_attack.get("connections"), "at_end": stats_end.get("connections"),
                        "after": stats_after.get("connections")},
        "daemon_fds_peak": peak_fds,
        # once a second from the attack's start: seconds, RssAnon MiB, stats.buffered_input_bytes MiB, seq
        "timeline": [(round(t - t_attack, 1), _anon_at(samples, t), round(st.get("buffered_input_bytes", 0) / MIB, 1),
                      st.get("seq")) for t, st in stat_samples if t >= t_attack - 1],
        "buffered_input_bytes_peak": max((st["buffered_input_bytes"] for t, st in stat_samples
                                          if t_attack <= t <= t_end and "buffered_input_bytes" in st),
                                         default=None),
        "daemon_nofile": d.nofile_limit(),
        "daemon_alive": alive_during and d.alive(),
        "gateway": gw_info,
        "attacker": result,
        "atk_consumed": atk_balance.get("consumed_today"),
        "daemon_flags": extra,
    }
    code = d.stop(args.keep)
    row["daemon_exit"] = code
    if args.keep:
        row["dir"] = d.dir
    row["notes"], row["failed"] = judge(row, args)
    return row


def _anon_at(samples, t):
    """RssAnon in MiB of the sample nearest to `t`."""
    best = min(samples, key=lambda x: abs(x[0] - t), default=None)
    return round((best[2] or 0) / 1024, 1) if best else None


def _pct(a, b, seconds):
    if a is None or b is None or seconds <= 0:
        return None
    return round((a - b) / seconds * 100, 1)


def judge(row, args):
    """The notes column and the bars missed."""
    a = row["attacker"]
    notes, failed = [], []
    name = row["attack"]
    if "attacker_failed" in a:
        failed.append("attacker failed: " + a["attacker_failed"][-200:])
    if not row["daemon_alive"]:
        failed.append("DAEMON DIED")
    if row["gateway"]["errors"]:
        failed.append(f"{row['gateway']['errors']} gateway errors, first: {row['gateway']['first_error']}")
    if row["during"]["unanswered"]:
        failed.append(f"{row['during']['unanswered']} gateway requests unanswered")
    if row["p99_ratio"] is None or row["p99_ratio"] > args.max_p99_ratio:
        failed.append(f"p99 ratio {row['p99_ratio']} > {args.max_p99_ratio}")
    if row["rss_anon_growth_mib"] > args.max_rss_growth_mib:
        failed.append(f"RssAnon growth {row['rss_anon_growth_mib']} MiB > {args.max_rss_growth_mib}")
    if name in ("long-line", "long-line-flood") and "lines" in a:
        other = {k: v for k, v in a["answers"].items() if k != "line_too_long"}
        notes.append(f"{a['lines']} lines, each closed after the client wrote "
                     f"{a['written_min'] / 1024:.0f}–{a['written_max'] / 1024:.0f} KiB "
                     f"(max line {args.max_line_hint} B + socket buffers); "
                     f"answers {a['answers']}; slowest close {a['close_s_max']} s")
        if other or a["stuck"]:
            failed.append(f"long line not answered line_too_long every time: {a['answers']}, stuck {a['stuck']}")
    if name in ("connections", "connection-flood") and "connects" in a:
        notes.append(f"{a['target']} opened in {a['seconds_to_open_target']} s, {a['connects']} connects, "
                     f"{row['connections']['at_end']} admitted (stats at the end), "
                     f"{a['refused_unavailable']} refused with unavailable, "
                     f"{a['closed_silently']} closed silently, other {a['other'] or 'none'}; "
                     f"daemon fds peak {row['daemon_fds_peak']} of {row['daemon_nofile']}; "
                     f"connections after {row['connections']['after']}")
        if a["refused_unavailable"] == 0 or a["closed_silently"] or a["other"]:
            failed.append("over-limit connections were not all refused with one unavailable line")
    if name == "slowloris" and "clients" in a:
        parts = []
        for k in ("trickle", "silent", "idle-after-ping"):
            v = a[k]
            if v["closed"]:
                parts.append(f"{k}: {v['closed']} closed after {v['age_s_min']}–{v['age_s_max']} s "
                             f"(median {v['age_s_median']})")
            else:
                parts.append(f"{k}: none closed in {args.seconds:g} s")
        notes.append(f"{a['clients']} clients; " + "; ".join(parts)
                     + f"; answers at close {a['answers_before_close'] or 'none'}")
        if row["daemon_flags"]:
            notes.append("daemon " + " ".join(row["daemon_flags"]))
    if name == "subscriber" and "subscribers" in a:
        notes.append(f"{a['subscribers']} unread subscriber(s); map_used/event before "
                     f"{row['map_used_per_event_before']} B, during {row['map_used_per_event_during']} B; "
                     f"{a['bytes_waiting_unread'] / 1024:.0f} KiB sat unread in its socket")
        b, du = row["map_used_per_event_before"], row["map_used_per_event_during"]
        if b and du and du > 2 * b + 64:
            failed.append(f"map_used per event grew from {b} to {du} B: a pinned read transaction?")
    if name == "pipeline" and "requests_written" in a:
        notes.append(f"{a['pipeliners']} client(s) wrote {a['requests_written']} requests "
                     f"({a['bytes_written'] / MIB:.1f} MiB), "
                     f"then writes stalled after {a['writes_stalled_after_s']} s; daemon committed "
                     f"{row['atk_consumed']} of them; {a['answer_bytes_waiting_unread'] / 1024:.0f} KiB of "
                     f"answers unread")
        if a["closed_by_daemon"]:
            notes.append(f"closed by daemon ({a['closed_by_daemon']})")
        if row["buffered_input_bytes_peak"] is not None:
            notes.append(f"stats.buffered_input_bytes peak {row['buffered_input_bytes_peak'] / MIB:.1f} MiB")
    notes.append(f"log grew {row['map_used_growth_mib']['during']} MiB (map_used; in VmRSS as file pages)")
    notes.append(f"daemon CPU {row['daemon_cpu_pct']['before']}% → {row['daemon_cpu_pct']['during']}%")
    return notes, failed


# ---------------------------------------------------------------- output


def fmt_ms(v):
    if v is None:
        return "–"
    if v == float("inf"):
        return "stalled"
    return f"{v:.2f} ms"


def print_table(rows, args, load_before, load_after):
    print()
    print(f"gateway: {args.gateway_connections} connections, {args.rate}/s open-loop consumes; windows of "
          f"{args.seconds:g} s before and during each attack; attacker on CPU {args.attacker_cpu}")
    print(f"load average (uptime) before {load_before}, after {load_after}; {os.cpu_count()} cores")
    print()
    print("| attack | gateway p99 before | during | ratio | daemon RSS growth (MiB) | RssAnon growth (MiB) "
          "| notes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mark = "" if not r["failed"] else " **MISSED: " + "; ".join(r["failed"]) + "**"
        print(f"| {r['attack']} | {fmt_ms(r['before']['p99_ms'])} (p50 {fmt_ms(r['before']['p50_ms'])}) "
              f"| {fmt_ms(r['during']['p99_ms'])} (p50 {fmt_ms(r['during']['p50_ms'])}) "
              f"| {r['p99_ratio']}× | {r['rss_growth_mib']} | {r['rss_anon_growth_mib']} "
              f"| {'; '.join(r['notes'])}{mark} |")
    print()


def main():
    p = argparse.ArgumentParser(
        prog="tools/hostile/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n"
               "  tools/hostile/run                              # build the release daemon, run every attack\n"
               "  tools/hostile/run --attack slowloris --seconds 15 --line-timeout 5\n"
               "  HOSTILE_NO_BUILD=1 tools/hostile/run --json out.json --check\n")
    p.add_argument("--attack", action="append", choices=ATTACKS,
                   help="run this attack (repeatable); default: all, starting with none")
    p.add_argument("--seconds", type=float, default=10, help="length of the before and during windows (10)")
    p.add_argument("--warmup", type=float, default=2, help="gateway warm-up before the before window (2)")
    p.add_argument("--settle", type=float, default=2, help="gateway runs on this long after the attack (2)")
    p.add_argument("--daemon", default=os.path.join(ROOT, ".build/release/tokenledgerd"),
                   help="the tokenledgerd to start (default: this checkout's release build)")
    p.add_argument("--daemon-arg", action="append", default=[],
                   help="extra daemon flag, e.g. --daemon-arg=--max-connections=512 (repeatable)")
    p.add_argument("--daemon-nofile", type=int, help="the daemon's soft RLIMIT_NOFILE (default: inherited; the hard limit is kept)")
    p.add_argument("--line-timeout", type=float, default=5,
                   help="--line-timeout-seconds given to a daemon that knows it (5, so slowloris runs short)")
    p.add_argument("--idle-timeout", type=float, default=8,
                   help="--idle-timeout-seconds given to a daemon that knows it, for slowloris only (8)")
    p.add_argument("--rate", type=int, default=3000, help="gateway consumes per second, in total (3000)")
    p.add_argument("--gateway-connections", type=int, default=4, help="gateway connections (4)")
    p.add_argument("--conns", type=int, default=None,
                   help="connections for `connections` (10000) and clients for `slowloris` (1000)")
    p.add_argument("--idlers", type=int, default=20, help="slowloris: how many of the clients send one ping then idle (20)")
    p.add_argument("--subscribers", type=int, default=1, help="subscriber: unread subscribers (1)")
    p.add_argument("--requests", type=int, default=1_000_000,
                   help="pipeline: requests each client pipelines (1000000)")
    p.add_argument("--pipeliners", type=int, default=1, help="pipeline: clients that pipeline and never read (1)")
    p.add_argument("--line-bytes", type=int, default=1 << 30, help="long-line: bytes per line (1 GiB)")
    p.add_argument("--line-rate", type=float, default=10, help="long-line: lines (connections) a second (10)")
    p.add_argument("--attacker-cpu", default="1", help="taskset CPU list for the attacker (1)")
    p.add_argument("--max-p99-ratio", type=float, default=2.0, help="bar: p99 during / before (2.0)")
    p.add_argument("--max-rss-growth-mib", type=float, default=64,
                   help="bar: RssAnon growth (64); VmRSS also counts the log's mapped pages, so it is shown only")
    p.add_argument("--sample-interval", type=float, default=0.25, help="seconds between /proc samples (0.25)")
    p.add_argument("--no-fds", dest="fds", action="store_false", help="do not count the daemon's open fds")
    p.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"), help="where data directories go")
    p.add_argument("--keep", action="store_true", help="keep the data directories and daemon logs")
    p.add_argument("--json", metavar="FILE", help="also write every figure as JSON to FILE (- for stdout)")
    p.add_argument("--check", action="store_true", help="exit 3 when a bar is missed")
    p.add_argument("--attacker", choices=ATTACKS, help=argparse.SUPPRESS)
    p.add_argument("--socket", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.attacker:
        if args.conns is None:
            args.conns = 10000
        return attacker_main(args)

    if not os.access(args.daemon, os.X_OK):
        raise SystemExit(f"no daemon at {args.daemon}; build it: swift build -c release --product tokenledgerd")
    try:
        os.sched_setaffinity(0, {0})
    except OSError:
        pass
    raise_nofile(20000)
    known = daemon_flags(args.daemon)
    args.max_line_hint = 65536
    for a in args.daemon_arg:
        if a.startswith("--max-line="):
            args.max_line_hint = int(a.split("=", 1)[1])
    attacks = args.attack or ATTACKS
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for name in attacks:
        conns = args.conns
        if conns is None:
            conns = 1000 if name == "slowloris" else 10000
        sub = argparse.Namespace(**vars(args))
        sub.conns = conns
        row = run_attack(name, sub, known)
        log(f"{name}: p99 {row['before']['p99_ms']} → {row['during']['p99_ms']} ms, "
            f"RSS +{row['rss_growth_mib']} MiB, anon +{row['rss_anon_growth_mib']} MiB"
            + (f"; MISSED {row['failed']}" if row["failed"] else ""))
        rows.append(row)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_table(rows, args, load_before, load_after)
    if args.json:
        doc = {"load_before": load_before, "load_after": load_after, "rate": args.rate,
               "seconds": args.seconds, "rows": rows}
        text = json.dumps(doc, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    missed = [r["attack"] for r in rows if r["failed"]]
    if missed:
        log(f"bars missed: {', '.join(missed)}")
        if args.check:
            sys.exit(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
