#!/usr/bin/env python3
"""Kill -9 fault harness: N threads x M inputs through the real server roles, faults injected, zero loss proven.

Runs its own Postgres cluster (scripts/ensure-postgres with CENTAUR_PG_DIR under --work-dir; never the shared
server on 5432) and, with --kafka, its own broker (scripts/ensure-kafka with CENTAUR_KAFKA_DIR under --work-dir).
The roles run as separate processes of centaur-api-server (CENTAUR_ROLES=ingest / api / processor / projector),
and the sandboxes in a separate `centaur-sandbox-runner serve` process (the processor on SESSION_SANDBOX_BACKEND=remote;
--sandbox-backend local keeps them inside the processor).
Every thread has a session, M executions submitted one after another to ingest (each with an idempotency key,
retried until ingest answers), and one attached SSE client on api (curl, resuming with Last-Event-ID after every
drop).

Faults, after 20% of the turns have ended and spread over the run by the seed: kill -9 of every role
(--kills-per-role times each, restarted after a short random pause), one Postgres restart (immediate stop),
one broker restart (--kafka; on the embedded log Postgres is the broker), SIGSTOP/SIGCONT stalls of the roles,
and dropped client connections.

At the end, per thread, against the projection (session_events): seq is 1..n without a hole, event ids strictly
increase, each input became exactly one execution_requested, each execution has exactly one terminal event, and
the client's concatenated stream (ids, types, data) equals the projection. Prints the counts and the seed; exit 0
only when every check holds. Every wait is bounded (--timeout for the whole run).
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

TERMINALS = {"session.execution_completed", "session.execution_failed", "session.execution_cancelled"}
ROLES = ("ingest", "api", "processor", "projector", "runner")
SPAWNED = []  # every Role and Client, so that no process outlives the harness


def log(msg):
    print(f"[fault {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Role:
    """One process of a role, restartable on the same port: centaur-api-server with CENTAUR_ROLES=<name>, or (with
    `argv`) another program whose command line names the port. Owned by the harness main thread and the chaos
    thread (kill/stop/cont/start are serialised by `lock`)."""

    def __init__(self, name, binary, env, log_dir, argv=None, health="/healthz"):
        self.name, self.binary, self.env, self.log_dir = name, binary, env, log_dir
        self.argv, self.health = argv, health  # argv: port -> command line
        self.port = free_port()
        self.proc = None
        self.starts = 0
        self.planned_down = False  # set while the chaos thread has it down on purpose
        self.armed = False         # this start carries CENTAUR_TEST_FAULT_POINT
        self.lock = threading.Lock()
        SPAWNED.append(self)

    def start(self, extra_env=None):
        with self.lock:
            env = dict(self.env, CENTAUR_ROLES=self.name, BIND_ADDR=f"127.0.0.1:{self.port}", **(extra_env or {}))
            self.armed = bool(extra_env)
            self.starts += 1
            out = open(os.path.join(self.log_dir, f"{self.name}.{self.starts}.log"), "wb")
            cmd = self.argv(self.port) if self.argv else [self.binary]
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            out.close()

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} while starting "
                                   f"(log {self.log_dir}/{self.name}.{self.starts}.log)")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.health}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not healthy within {timeout}s")

    def signal(self, sig):
        with self.lock:
            if self.proc and self.proc.poll() is None:
                # The whole group: the processor's sandboxes go with it, as they would with the host.
                os.killpg(self.proc.pid, sig)

    def kill9(self):
        self.signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.name} survived SIGKILL for 10s")

    def stop(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()


class Client:
    """The SSE client attached to one thread: curl, restarted with Last-Event-ID after each end of stream.
    Records every dispatched frame with an id, in arrival order."""

    def __init__(self, base_url_fn, key, stats):
        self.base_url_fn, self.key, self.stats = base_url_fn, key, stats
        self.frames = []          # (event_id, event, data)
        self.terminals = set()    # execution ids with a terminal frame
        self.stream_errors = 0
        self.connects = 0
        self.violations = []
        self.proc = None
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        SPAWNED.append(self)

    def last_id(self):
        with self.lock:
            return self.frames[-1][0] if self.frames else 0

    def drop(self):
        with self.lock:
            p = self.proc
        if p and p.poll() is None:
            p.kill()
            return True
        return False

    def run(self):
        while not self.stopping:
            last = self.last_id()
            url = f"{self.base_url_fn()}/api/session/{self.key}/events"
            cmd = ["curl", "-sSN", "--no-buffer", "--max-time", "120", "-H", "Accept: text/event-stream"]
            if last:
                cmd += ["-H", f"Last-Event-ID: {last}"]
            cmd.append(url)
            with self.lock:
                self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                self.connects += 1
            self.consume(self.proc)
            self.proc.wait()
            if not self.stopping:
                time.sleep(0.2)

    def consume(self, proc):
        ev_id, ev_type, data = None, "message", []
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
            if line == "":
                if data:
                    self.dispatch(ev_id, ev_type, "\n".join(data))
                ev_id, ev_type, data = None, "message", []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "id":
                ev_id = value
            elif field == "event":
                ev_type = value or "message"
            elif field == "data":
                data.append(value)

    def dispatch(self, ev_id, ev_type, data):
        if ev_type == "session.stream_error":
            with self.lock:
                self.stream_errors += 1
            return
        if ev_id is None:
            self.violations.append(f"frame without id: {ev_type}")
            return
        n = int(ev_id)
        with self.lock:
            if self.frames and n <= self.frames[-1][0]:
                self.violations.append(f"id {n} after {self.frames[-1][0]} (duplicate or out of order)")
                return
            self.frames.append((n, ev_type, data))
        if ev_type in TERMINALS:
            try:
                exe = json.loads(data).get("execution_id")
            except ValueError:
                exe = None
            with self.lock:
                if exe:
                    self.terminals.add(exe)
            self.stats.turn_ended()


class Stats:
    def __init__(self, total_turns):
        self.total = total_turns
        self.ended = 0
        self.lock = threading.Lock()

    def turn_ended(self):
        with self.lock:
            self.ended += 1

    def progress(self):
        with self.lock:
            return self.ended / self.total if self.total else 1.0


def http_post(url, body, timeout=15):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return None, None


def drive_thread(t, args, ingest_url_fn, client, deadline, failures, retries):
    """Creates the session and submits the thread's inputs one after another, each retried until accepted; the
    next input goes once the client saw the previous execution end (or after --turn-wait seconds)."""
    key = f"fault:{args.seed}:{t}"

    def post_until_accepted(path, body, what):
        """The reply once the API accepts `body` (retried: the request is idempotent), or None at the deadline."""
        while True:
            status, reply = http_post(f"{ingest_url_fn()}/api/session/{key}{path}", body)
            if status in (200, 201) and reply is not None:
                return reply
            retries[0] += 1
            if time.time() > deadline:
                failures.append(f"thread {t}: {what} never accepted (last status {status})")
                return None
            time.sleep(0.2)

    if post_until_accepted("", {"harness_type": "codex"}, "session create") is None:
        return
    client.thread.start()
    for i in range(args.inputs):
        body = {"input_lines": [f"fault input t{t} i{i}"], "idempotency_key": f"fault-{t}-{i}"}
        reply = post_until_accepted("/execute", body, f"input {i}")
        if reply is None or not reply.get("execution_id"):
            failures.append(f"thread {t}: input {i} has no execution id")
            return
        exe = reply["execution_id"]
        turn_deadline = min(deadline, time.time() + args.turn_wait)
        while time.time() < turn_deadline:
            with client.lock:
                if exe in client.terminals:
                    break
            time.sleep(0.05)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    return out.stdout


def projection(url, prefix):
    rows = {}
    sql = ("select row_to_json(e) from (select thread_key, seq, event_id, event_type, execution_id, data "
           f"from session_events where thread_key like '{prefix}%' order by thread_key, seq) e")
    for line in psql(url, sql).splitlines():
        r = json.loads(line)
        rows.setdefault(r["thread_key"], []).append(r)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="directory of centaur-api-server and centaur-mock-agent")
    ap.add_argument("--source-dir", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--work-dir", required=True, help="private Postgres, broker and logs live here")
    ap.add_argument("--threads", type=int, default=100)
    ap.add_argument("--inputs", type=int, default=20, help="inputs (executions) per thread")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kafka", action="store_true", help="Kafka event log on a private broker (else embedded)")
    ap.add_argument("--sandbox-backend", default="remote", choices=("remote", "local"),
                    help="remote: sandboxes in a centaur-sandbox-runner process (a role, killed like the others); "
                         "local: inside the processor")
    ap.add_argument("--kills-per-role", type=int, default=3)
    ap.add_argument("--postgres-restarts", type=int, default=1)
    ap.add_argument("--fault-point", default="",
                    help="NAME[@N]: the --fault-role process dies at the N-th pass of that named point (first start)")
    ap.add_argument("--fault-role", default="projector", choices=ROLES)
    ap.add_argument("--stalls", type=int, default=3, help="SIGSTOP/SIGCONT pauses")
    ap.add_argument("--client-drops", type=int, default=6, help="rounds of dropped client connections")
    ap.add_argument("--turn-wait", type=float, default=20.0, help="max seconds before the next input")
    ap.add_argument("--timeout", type=float, default=280.0, help="bound of the whole run in seconds")
    ap.add_argument("--min-events", type=int, default=0, help="fail unless the projection holds this many")
    ap.add_argument("--full", action="store_true", help="full form: 100 threads, >= 100,000 events")
    args = ap.parse_args()
    if args.full:
        args.threads, args.inputs, args.min_events = 100, max(args.inputs, 110), max(args.min_events, 100_000)
        args.timeout = max(args.timeout, 1800)
    if args.seed is None:
        args.seed = int(os.environ.get("CENTAUR_FAULT_SEED", "0")) or random.randrange(1, 1 << 31)
    rng = random.Random(args.seed)
    started = time.time()
    deadline = started + args.timeout
    log(f"seed {args.seed} (replay: --seed {args.seed}); {args.threads} threads x {args.inputs} inputs; "
        f"log {'kafka' if args.kafka else 'embedded'}")

    work = os.path.abspath(args.work_dir)
    src = os.path.abspath(args.source_dir)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CENTAUR_", "DATABASE_URL"))}
    pg_env = dict(base_env, CENTAUR_PG_DIR=os.path.join(work, "pg"), CENTAUR_PG_FSYNC="off",
                  CENTAUR_PG_PORT_PROBE="1")  # port 1: never take the shared server on 5432
    kafka_env = dict(base_env, CENTAUR_KAFKA_DIR=os.path.join(work, "kafka"), CENTAUR_KAFKA_PARTITIONS="8")

    def stop_services():
        subprocess.run([os.path.join(src, "scripts", "stop-postgres")], env=pg_env, capture_output=True, timeout=60)
        if os.path.isdir(kafka_env["CENTAUR_KAFKA_DIR"]):
            subprocess.run([os.path.join(src, "scripts", "stop-kafka")], env=kafka_env, capture_output=True,
                           timeout=90)

    stop_services()  # a previous run's cluster, if it was interrupted
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "logs"))
    try:
        return run(args, rng, started, deadline, work, src, base_env, pg_env, kafka_env)
    finally:
        for x in SPAWNED:
            if isinstance(x, Client):
                x.stopping = True
                x.drop()
            elif x.proc and x.proc.poll() is None:
                x.kill9()
        stop_services()


def run(args, rng, started, deadline, work, src, base_env, pg_env, kafka_env):

    def ensure_pg():
        out = subprocess.run([os.path.join(src, "scripts", "ensure-postgres"), "--database", "centaur_fault"],
                             env=pg_env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"ensure-postgres: {out.stderr.strip()}")
        return out.stdout.strip()

    db_url = ensure_pg()
    server_env = dict(base_env, DATABASE_URL=db_url, RUN_MIGRATIONS="true", LOG_LEVEL="warn",
                      SESSION_SANDBOX_RUNNING_LIMIT="0", CENTAUR_SANDBOX_WORKSPACE_ROOT=os.path.join(work, "sbx"))
    if args.kafka:
        out = subprocess.run([os.path.join(src, "scripts", "ensure-kafka")], env=kafka_env, capture_output=True,
                             text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"ensure-kafka: {out.stderr.strip()[-2000:]}")
        server_env.update(CENTAUR_KAFKA_BROKERS=out.stdout.strip(), CENTAUR_KAFKA_TOPIC=f"fault.{args.seed}")

    bin_dir = os.path.abspath(args.bin_dir)
    binary = os.path.join(bin_dir, "centaur-api-server")
    logs = os.path.join(work, "logs")
    roles = {}
    if args.sandbox_backend == "remote":
        # The runner keeps its port across restarts; a sandbox whose processor died is stopped 10 s after its
        # stream was dropped (--orphan-timeout-secs), as it would be in production after 60 s.
        runner_bin = os.path.join(bin_dir, "centaur-sandbox-runner")
        runner_argv = lambda port: [runner_bin, "serve", "--listen", f"127.0.0.1:{port}",
                                    "--workspace-root", os.path.join(work, "sbx"), "--running-limit", "0",
                                    "--orphan-timeout-secs", "10", "--env", "PATH=/usr/local/bin:/usr/bin:/bin",
                                    "--", os.path.join(bin_dir, "centaur-mock-agent")]
        roles["runner"] = Role("runner", runner_bin, base_env, logs, argv=runner_argv, health="/v1/health")
        server_env.update(SESSION_SANDBOX_BACKEND="remote",
                          SESSION_SANDBOX_RUNNER_URLS=f"http://127.0.0.1:{roles['runner'].port}")
    for n in ("ingest", "api", "processor", "projector"):
        roles[n] = Role(n, binary, server_env, logs)
    # ingest first: it applies the migrations before the others connect; the runner before the processor.
    for n in ("ingest", "api", "runner", "processor", "projector"):
        if n not in roles:
            continue
        armed = {"CENTAUR_TEST_FAULT_POINT": args.fault_point} if args.fault_point and n == args.fault_role else None
        roles[n].start(armed)
        roles[n].wait_ready(60)
    api_url = lambda: f"http://127.0.0.1:{roles['api'].port}"
    ingest_url = lambda: f"http://127.0.0.1:{roles['ingest'].port}"

    stats = Stats(args.threads * args.inputs)
    failures, retries = [], [0]
    clients = [Client(api_url, f"fault:{args.seed}:{t}", stats) for t in range(args.threads)]
    counts = {"kill_" + n: 0 for n in roles}
    counts.update(postgres_restarts=0, broker_restarts=0, stalls=0, client_drops=0)
    if args.fault_point:
        counts["fault_point"] = f"{args.fault_role}:{args.fault_point}"

    # The fault plan: every action at a progress point in [0.2, 0.85], in a seeded order.
    plan = [("kill", n) for n in roles for _ in range(args.kills_per_role)]
    plan += [("restart_postgres", None)] * args.postgres_restarts + ([("restart_broker", None)] if args.kafka else [])
    plan += [("stall", rng.choice(sorted(roles))) for _ in range(args.stalls)]
    plan += [("drop_clients", None) for _ in range(args.client_drops)]
    points = sorted(rng.uniform(0.2, 0.85) for _ in plan)
    rng.shuffle(plan)
    chaos_error = []

    def chaos():
        try:
            for point, (action, target) in zip(points, plan):
                while stats.progress() < point:
                    if time.time() > deadline:
                        chaos_error.append(f"progress stuck at {stats.progress():.2f} before {action}")
                        return
                    time.sleep(0.05)
                if action == "kill":
                    roles[target].planned_down = True
                    roles[target].kill9()
                    counts["kill_" + target] += 1
                    time.sleep(rng.uniform(0.1, 1.5))
                    roles[target].start()
                    roles[target].planned_down = False
                    roles[target].wait_ready(60)
                elif action == "restart_postgres":
                    data = os.path.join(work, "pg", "data")
                    subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D",
                                    data, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
                    time.sleep(rng.uniform(0.5, 2.0))
                    ensure_pg()
                    counts["postgres_restarts"] += 1
                elif action == "restart_broker":
                    out = subprocess.run([os.path.join(src, "scripts", "ensure-kafka"), "--restart"], env=kafka_env,
                                         capture_output=True, text=True, timeout=300)
                    if out.returncode != 0:
                        raise RuntimeError(f"ensure-kafka --restart: {out.stderr.strip()[-1000:]}")
                    counts["broker_restarts"] += 1
                elif action == "stall":
                    roles[target].signal(signal.SIGSTOP)
                    time.sleep(rng.uniform(0.5, 3.0))
                    roles[target].signal(signal.SIGCONT)
                    counts["stalls"] += 1
                elif action == "drop_clients":
                    for c in rng.sample(clients, max(1, len(clients) // 5)):
                        counts["client_drops"] += int(c.drop())
                log(f"{action} {target or ''} at {stats.progress():.0%}")
        except Exception as e:  # noqa: BLE001 - reported as a failure of the run
            chaos_error.append(f"chaos: {e}")

    # A role that exits on its own (crash, or giving up on Postgres or the broker) is a finding: recorded with its
    # status and restarted, as a process supervisor would, so the run can still prove what was lost.
    unexpected_exits = []
    fault_point_deaths = []
    done = threading.Event()

    def supervise():
        while not done.wait(0.2):
            for r in roles.values():
                with r.lock:
                    rc = None if r.planned_down else r.proc.poll()
                    armed = r.armed
                if rc is None:
                    continue
                if armed and rc == -signal.SIGKILL:
                    fault_point_deaths.append(f"{r.name} died at {args.fault_point}")
                    log(f"{fault_point_deaths[-1]}; restarting it without the fault point")
                else:
                    unexpected_exits.append(f"{r.name} (start {r.starts}) exited by itself with status {rc}")
                    log(f"unexpected exit: {unexpected_exits[-1]}; restarting it")
                r.start()

    threading.Thread(target=supervise, daemon=True).start()
    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    drivers = [threading.Thread(target=drive_thread, args=(t, args, ingest_url, clients[t], deadline, failures,
                                                           retries), daemon=True) for t in range(args.threads)]
    for d in drivers:
        d.start()
    for d in drivers:
        d.join(max(0.0, deadline - time.time()))
    chaos_thread.join(max(0.0, deadline - time.time()))
    failures += chaos_error
    if any(d.is_alive() for d in drivers):
        failures.append("drivers did not finish within the timeout")

    # Quiescence: every client caught up with its thread's projection, and nothing moved for a second.
    prefix = f"fault:{args.seed}:"
    rows, stable_since, last_total = {}, time.time(), -1
    settle_deadline = max(deadline, time.time() + 30)  # read at least once, even after a timeout
    settled = False
    while time.time() < settle_deadline:
        rows = projection(db_url, prefix)
        total = sum(len(v) for v in rows.values())
        caught_up = all(c.last_id() == (rows[c.key][-1]["event_id"] if c.key in rows else 0) for c in clients)
        ended = all(all(e["execution_id"] in {x["execution_id"] for x in v if x["event_type"] in TERMINALS}
                        for e in v if e["event_type"] == "session.execution_requested") for v in rows.values())
        if total != last_total:
            last_total, stable_since = total, time.time()
        if caught_up and ended and time.time() - stable_since >= 1.0:
            settled = True
            break
        time.sleep(0.5)
    if not settled:
        behind = sum(1 for c in clients if c.last_id() != (rows[c.key][-1]["event_id"] if c.key in rows else 0))
        open_turns = sum(1 for v in rows.values() for e in v if e["event_type"] == "session.execution_requested"
                         and not any(x["event_type"] in TERMINALS and x["execution_id"] == e["execution_id"]
                                     for x in v))
        failures.append(f"no quiescence: {behind} clients behind their projection, {open_turns} executions "
                        f"without a terminal event, turns ended seen by clients {stats.progress():.0%}")

    done.set()
    failures += unexpected_exits
    if args.fault_point and len(fault_point_deaths) != 1:
        failures.append(f"fault point {args.fault_point}: {len(fault_point_deaths)} deaths, expected exactly 1")
    for c in clients:
        c.stopping = True
        c.drop()
    for r in roles.values():
        r.planned_down = True
        r.stop()

    # ---- checks ----
    events = sum(len(v) for v in rows.values())
    terminal_count = 0
    for t, c in enumerate(clients):
        v = rows.get(c.key, [])
        where = f"thread {t} ({c.key})"
        if [e["seq"] for e in v] != list(range(1, len(v) + 1)):
            failures.append(f"{where}: seq is not 1..{len(v)}")
        ids = [e["event_id"] for e in v]
        if any(b <= a for a, b in zip(ids, ids[1:])):
            failures.append(f"{where}: event ids do not strictly increase")
        requested = {}
        for e in v:
            if e["event_type"] == "session.execution_requested":
                key = json.loads(e["data"]).get("idempotency_key")
                requested.setdefault(key, []).append(e["execution_id"])
        for i in range(args.inputs):
            n = len(requested.get(f"fault-{t}-{i}", []))
            if n != 1:
                failures.append(f"{where}: input {i} became {n} executions")
        if set(requested) - {f"fault-{t}-{i}" for i in range(args.inputs)}:
            failures.append(f"{where}: unexpected executions {sorted(set(requested), key=str)}")
        for keys in requested.values():
            for exe in keys:
                n = sum(1 for e in v if e["event_type"] in TERMINALS and e["execution_id"] == exe)
                terminal_count += n
                if n != 1:
                    failures.append(f"{where}: execution {exe} has {n} terminal events")
        projected = [(e["event_id"], e["event_type"], e["data"]) for e in v]
        if c.frames != projected:
            first = next((k for k, (a, b) in enumerate(zip(c.frames, projected)) if a != b),
                         min(len(c.frames), len(projected)))
            failures.append(f"{where}: client stream differs from the projection at frame {first} "
                            f"({len(c.frames)} frames, {len(projected)} events)")
        failures += [f"{where}: client: {x}" for x in c.violations]

    outcome, failed_by_reason = {}, {}
    for v in rows.values():
        for e in v:
            if e["event_type"] in TERMINALS:
                outcome[e["event_type"]] = outcome.get(e["event_type"], 0) + 1
            if e["event_type"] == "session.execution_failed":
                try:
                    reason = json.loads(e["data"]).get("reason") or "none given"
                except (ValueError, AttributeError):
                    reason = "unreadable"
                failed_by_reason[reason] = failed_by_reason.get(reason, 0) + 1
    if events < args.min_events:
        failures.append(f"projection holds {events} events, fewer than --min-events {args.min_events}")
    elapsed = time.time() - started
    log(f"seed {args.seed}: {args.threads} threads, {args.threads * args.inputs} inputs, {events} events, "
        f"{terminal_count} terminal events {outcome}, in {elapsed:.1f}s")
    if failed_by_reason:
        log("failed executions by reason: " + ", ".join(f"{k} {n}" for k, n in sorted(failed_by_reason.items())))
    log("faults: " + ", ".join(f"{k} {v}" for k, v in counts.items()) +
        f"; client connects {sum(c.connects for c in clients)}, stream errors "
        f"{sum(c.stream_errors for c in clients)}, request retries {retries[0]}")
    if failures:
        for f in failures[:50]:
            log("FAIL " + f)
        log(f"{len(failures)} failures; logs in {work}/logs; replay with --seed {args.seed}")
        return 1
    log("ok: every input exactly once, one terminal per turn, seq 1..n, ids increasing, clients equal projection")
    return 0


if __name__ == "__main__":
    # SIGTERM (ctest's timeout, a user) unwinds through main's cleanup: no role, client or cluster is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
