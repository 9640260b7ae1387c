#!/usr/bin/env python3
"""Auth and limits of the real server, from outside: bearer keys (401 JSON), request body limit (413 JSON, nothing
appended), header limit (431), and a slowloris client that is cut off by the request timeout while others are served.

Runs centaur-api-server (all roles, embedded log) on its own database of the server named by
CENTAUR_TEST_DATABASE_URL (created and dropped here), with an admin key and a 4 KiB body limit. curl is the
client for the HTTP checks, a raw socket for the slowloris. Exit 0 only when every check holds; every wait is
bounded.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

ADMIN_KEY = "fault-limits-admin-key"
MAX_BODY = 4096
REQUEST_TIMEOUT_S = 30  # the server's request timeout (http::ServerOptions::request_timeout)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def curl(args, timeout=20):
    """Status and body of one request made with curl."""
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(timeout)] + args,
                         capture_output=True, text=True, timeout=timeout + 5)
    body, _, status = out.stdout.rpartition("\n")
    return int(status or 0), body


def is_json_error(body):
    try:
        v = json.loads(body)
    except ValueError:
        return False
    return v.get("ok") is False and isinstance(v.get("error"), str) and v["error"] != ""


def psql(url, sql):
    subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True,
                   timeout=60)


def rows_for(db_url, key):
    """Rows naming `key` in the embedded log and the projection (after the projector had time to catch up)."""
    time.sleep(1.5)
    sql = (f"select (select count(*) from centaur_log where thread_key = '{key}') + "
           f"(select count(*) from session_events where thread_key = '{key}') + "
           f"(select count(*) from sessions where thread_key = '{key}')")
    out = subprocess.run(["psql", db_url, "-XAtq", "-c", sql], capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip() or -1)


def main():
    bin_dir = sys.argv[1]
    admin_url = os.environ.get("CENTAUR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    db = f"fault_limits_{os.getpid()}"
    parts = urllib.parse.urlsplit(admin_url)
    db_url = urllib.parse.urlunsplit(parts._replace(path="/" + db))
    psql(admin_url, f"create database {db}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTAUR_")}
    env.update(DATABASE_URL=db_url, RUN_MIGRATIONS="true", BIND_ADDR=f"127.0.0.1:{port}", LOG_LEVEL="warn",
               CENTAUR_APIRS_ADMIN_API_KEY=ADMIN_KEY, CENTAUR_MAX_BODY_BYTES=str(MAX_BODY))
    server = subprocess.Popen([os.path.join(bin_dir, "centaur-api-server")], env=env, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    auth = ["-H", f"Authorization: Bearer {ADMIN_KEY}", "-H", "content-type: application/json"]
    try:
        deadline = time.time() + 60
        while time.time() < deadline and curl([base + "/healthz"], 2)[0] != 200:
            time.sleep(0.2)
        check(curl([base + "/healthz"], 2)[0] == 200, "server healthy")

        # Auth: no key, a wrong key, the admin key.
        status, body = curl(["-X", "POST", base + "/api/session/fault:auth", "-d", '{"harness_type":"codex"}',
                             "-H", "content-type: application/json"])
        check(status == 401 and is_json_error(body), f"no bearer key: 401 JSON error (got {status} {body[:80]})")
        status, body = curl(["-X", "POST", base + "/api/session/fault:auth", "-d", '{"harness_type":"codex"}',
                             "-H", "Authorization: Bearer wrong", "-H", "content-type: application/json"])
        check(status == 401 and is_json_error(body), f"wrong bearer key: 401 JSON error (got {status})")
        n = rows_for(db_url, "fault:auth")
        check(n == 0, f"a refused create wrote nothing ({n} rows)")
        status, _ = curl(["-X", "POST", base + "/api/session/fault:auth", "-d", '{"harness_type":"codex"}'] + auth)
        check(status in (200, 201), f"admin key: session created ({status})")

        # Body limit: 413 with a JSON error, and the oversize request changed nothing.
        big = json.dumps({"harness_type": "codex", "metadata": {"pad": "x" * (MAX_BODY + 100)}})
        status, body = curl(["-X", "POST", base + "/api/session/fault:big", "--data-binary", big] + auth)
        check(status == 413 and is_json_error(body), f"oversize body: 413 JSON error (got {status})")
        n = rows_for(db_url, "fault:big")
        check(n == 0, f"an oversize body wrote nothing ({n} rows)")
        n = rows_for(db_url, "fault:auth")
        check(n > 0, f"the accepted create is in the log and the projection ({n} rows)")

        # Header limit.
        status, body = curl(["-X", "GET", base + "/api/session/fault:auth", "-H", "X-Pad: " + "y" * 20000] + auth)
        check(status == 431 and is_json_error(body), f"oversize headers: 431 JSON error (got {status})")

        # Slowloris: one header byte per second never completes a request; the server cuts it off at its request
        # timeout, and serves everybody else meanwhile.
        slow = socket.create_connection(("127.0.0.1", port), timeout=5)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started, closed_after, served_meanwhile = time.time(), None, True
        while time.time() - started < REQUEST_TIMEOUT_S + 15:
            try:
                slow.sendall(b"X")
                slow.settimeout(1.0)
                try:
                    if slow.recv(1024) == b"":
                        closed_after = time.time() - started
                        break
                except socket.timeout:
                    pass
            except OSError:
                closed_after = time.time() - started
                break
            if int(time.time() - started) % 10 == 0:
                t0 = time.time()
                served_meanwhile &= curl([base + "/healthz"], 5)[0] == 200 and time.time() - t0 < 3
        slow.close()
        check(closed_after is not None and closed_after <= REQUEST_TIMEOUT_S + 10,
              f"slowloris cut off by the request timeout (after {closed_after and round(closed_after, 1)} s)")
        check(served_meanwhile, "other clients served during the slowloris")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        psql(admin_url, f"drop database if exists {db} with (force)")
    print(f"{len(failures)} failures" if failures else "all limits hold", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
