#!/usr/bin/env python3
"""Do outcomes arrive on time? Starts `dialer serve` (embedded store, in-process simulator) on a
free port in a temporary directory, sends initiate-calls at an open rate (default 600 at 10/s:
a request every 100 ms whatever the previous one did), waits for the calls to end, and compares
each call's stored events with the simulator's own timeline (ringing 0.5 s after the dial;
no answer at the 6 s ring timeout; an answered call ends `talk` seconds after its answer).

    cargo build --release --bins && python3 bench/ontime.py [--calls 600] [--rate 10]
"""
import argparse, datetime as dt, json, os, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request

TOKEN = "ontime-admin-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=600)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--dialer", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "dialer"))
    a = ap.parse_args()
    port, work = free_port(), tempfile.mkdtemp(prefix="dialer-ontime-")
    env = dict(os.environ, DIALER_LISTEN=f"127.0.0.1:{port}", DIALER_DATA_DIR=os.path.join(work, "data"),
               DIALER_ADMIN_TOKEN=TOKEN, DIALER_MAX_CONCURRENT_CALLS="1000", DIALER_LOG="warn")
    server = subprocess.Popen([a.dialer, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(work, "dialer.log"), "w"))
    api = f"http://127.0.0.1:{port}/api/v1"

    def req(method, path, body=None):
        r = urllib.request.Request(api + path, method=method,
                                   data=None if body is None else json.dumps(body).encode(),
                                   headers={"X-Auth-Token": TOKEN, "Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as f:
            return json.loads(f.read())

    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        camp = req("POST", "/campaigns/", {"name": "ontime", "settings": {
            "max_concurrent": 1000, "one_off_share_percent": 100, "ring_timeout_secs": 6,
            "zone_policy": "campaign", "calling_hours": [
                {"day_of_week": "daily", "start_time": "00:00", "end_time": "24:00"}],
            "sim": {"picked": 60, "rnr": 20, "disconnected": 10, "failed": 10, "ring_min_ms": 1000,
                    "ring_max_ms": 10000, "talk_min_secs": 1, "talk_max_secs": 5}}})
        cid = camp["id"]
        req("POST", f"/campaigns/{cid}/start")
        ids, errors, threads, t0 = [], [], [], time.monotonic()

        def fire(i):
            try:
                ids.append(req("POST", "/initiate-call/",
                               {"phone_number": "+1212%07d" % (5550000 + i), "campaign_id": cid})["call_id"])
            except urllib.error.HTTPError as e:
                errors.append((i, e.code, e.read()))

        for i in range(a.calls):
            while time.monotonic() < t0 + i / a.rate:
                time.sleep(0.001)
            t = threading.Thread(target=fire, args=(i,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        time.sleep(20)  # the longest call: 10 s of ringing and 5 s of talk
        ts = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        dial, ringing, late, to_final, beyond, unended = [], [], [], [], 0, 0
        for c in ids:
            time.sleep(1 / 150)  # under the token's rate limit
            call = req("GET", f"/calls/{c}")
            at = {}
            for e in call["events"]:
                if e["attempt"] <= 1:
                    k = e["kind"] if e["kind"] != "provider_status" else e["detail"]["normalized"]
                    at.setdefault(k, ts(e["at"]))
            dial.append(at["dialed"] - at["created"])
            if "RINGING" in at:
                ringing.append(abs(at["RINGING"] - at["dialed"] - 0.5))
            if "ended" not in at:
                unended += 1
                continue
            to_final.append(at["ended"] - at["created"])
            if "IN_PROGRESS" in at:
                beyond += at["IN_PROGRESS"] - at["dialed"] > 10.0
                if call["attempt_count"] == 1:
                    late.append(abs(at["ended"] - at["IN_PROGRESS"] - call["total_call_time"]))
            elif call["last_outcome"] == "RNR":
                late.append(abs(at["ended"] - at["dialed"] - 6.0))

        def q(xs, p):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")

        print(f"{len(ids)} calls accepted at {a.rate}/s, {len(errors)} refused {errors[:3]}")
        for name, xs in [("accepted -> dialed", dial), ("ringing off the timeline", ringing),
                         ("end off the timeline", late), ("accepted -> final", to_final)]:
            print(f"  {name}: n={len(xs)} p50={q(xs, .5) * 1000:.1f} p90={q(xs, .9) * 1000:.1f} "
                  f"p99={q(xs, .99) * 1000:.1f} max={max(xs) * 1000:.1f} ms")
        print(f"  answered more than 10 s after the dial: {beyond}; not ended: {unended}")
        return 1 if beyond or unended or errors else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
