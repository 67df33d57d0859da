#!/usr/bin/python3
"""Load generator for binscan serve: CLIENTS threads, each with its own keep-alive connection
(requests.Session), POST photos' bytes to URL in turn until REQUESTS answers have come back in
all. Prints JSON: {"clients", "requests", "seconds", "images_per_second", "p50_ms", "p99_ms",
"status": {code: count}}.

  load.py URL CLIENTS REQUESTS PHOTO... [--expect ANSWER.json]

With --expect (tests), every 200 answer must equal that JSON (one photo only); anything else but
200 and 503 with Retry-After counts under "unexpected" in the status counts.
"""

import json
import statistics
import sys
import threading
import time

import requests


def main():
    args = sys.argv[1:]
    expect = None
    if "--expect" in args:
        k = args.index("--expect")
        with open(args[k + 1]) as f:
            expect = json.load(f)
        del args[k:k + 2]
    url, clients, total, photos = args[0], int(args[1]), int(args[2]), args[3:]
    bodies = [open(p, "rb").read() for p in photos]
    lock = threading.Lock()
    issued = 0
    latencies, status = [], {}

    def client(k):
        nonlocal issued
        session = requests.Session()
        i = k
        while True:
            with lock:
                if issued >= total:
                    return
                issued += 1
            t0 = time.perf_counter()
            try:
                r = session.post(url, data=bodies[i % len(bodies)], timeout=600)
                code = str(r.status_code)
                if expect is not None and (
                        (r.status_code == 200 and r.json() != expect) or
                        (r.status_code == 503 and "Retry-After" not in r.headers) or
                        r.status_code not in (200, 503)):
                    code = "unexpected"
            except requests.RequestException as e:
                code = "unexpected"
                print(f"load.py: {e}", file=sys.stderr)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                status[code] = status.get(code, 0) + 1
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    latencies.sort()
    print(json.dumps({
        "clients": clients, "requests": len(latencies), "seconds": seconds,
        "images_per_second": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "status": status}))


if __name__ == "__main__":
    main()
