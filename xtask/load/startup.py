"""Time from starting `sd eureka serve` to its `listening on` line (which it prints once
the socket accepts connections), and to a first answered request; median of N runs.

usage: startup.py PATH_TO_SD [RUNS]
"""
import http.client
import statistics
import subprocess
import sys
import time


def once(sd):
    start = time.perf_counter()
    proc = subprocess.Popen([sd, "eureka", "serve", "--addr", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        listening = time.perf_counter() - start
        hostport = line.split("http://", 1)[1].split("/", 1)[0]
        host, port = hostport.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/eureka/apps")
        reply = conn.getresponse()
        reply.read()
        answered = time.perf_counter() - start
        assert reply.status == 200, reply.status
        return listening, answered
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    sd = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    results = [once(sd) for _ in range(runs)]
    listening = statistics.median(r[0] for r in results) * 1000
    answered = statistics.median(r[1] for r in results) * 1000
    print(f"startup over {runs} runs (median): listening after {listening:.1f} ms, "
          f"first request answered after {answered:.1f} ms")


main()
