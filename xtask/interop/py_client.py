"""Drives py-eureka-client for `cargo xtask interop`.

Usage: py_client.py SERVICE_URL APP INSTANCE_ID PORT

Registers APP (heartbeat every second), then answers one line per command read
from stdin; the client's own logging goes to stderr:

    discover APP SECS  ->  found ID IP:PORT STATUS  |  missing APP
    status VALUE       ->  status VALUE             (the status override call)
    stop               ->  stopped                  (then exits)
"""

import asyncio
import logging
import sys
import threading
import time

from py_eureka_client import logger as eureka_logger
from py_eureka_client.eureka_client import EurekaClient


def say(line):
    """Writes one protocol line to stdout."""
    print(line, flush=True)


def report_error(kind, error):
    """The client's on_error callback: every failed call, on stderr."""
    print(f"py-eureka-client error {kind}: {error!r}", file=sys.stderr, flush=True)


async def discover(client, app, secs):
    """Polls the client's local registry copy until APP has an UP instance."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        for instance in client.applications.get_application(app).up_instances:
            return f"found {instance.instanceId} {instance.ipAddr}:{instance.port.port} {instance.status}"
        await asyncio.sleep(0.2)
    return f"missing {app}"


def gate_heartbeats(client, stopping):
    """Stops the client's heartbeats once `stopping` is set.

    The client's heartbeat thread loops forever and outlives stop(); its next beat
    after the cancel sees the instance as not alive and registers it again.
    """
    beat = client.send_heartbeat

    async def beat_unless_stopping(*args, **kwargs):
        if not stopping.is_set():
            await beat(*args, **kwargs)

    client.send_heartbeat = beat_unless_stopping


async def main():
    """Registers, then serves commands until `stop` or the end of stdin."""
    url, app, instance_id, port = sys.argv[1:5]
    client = EurekaClient(
        eureka_server=url,
        app_name=app,
        instance_id=instance_id,
        instance_host="127.0.0.1",
        instance_ip="127.0.0.1",
        instance_port=int(port),
        renewal_interval_in_secs=1,
        duration_in_secs=30,
        on_error=report_error,
    )
    stopping = threading.Event()
    gate_heartbeats(client, stopping)
    await client.start()
    say("registered")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        words = line.split()
        if not words or words[0] == "stop":
            stopping.set()
            await client.stop()
            say("stopped")
            return
        if words[0] == "discover":
            say(await discover(client, words[1], float(words[2])))
        elif words[0] == "status":
            await client.status_update(words[1])
            say(f"status {words[1]}")
        else:
            say(f"unknown command {words[0]}")


if __name__ == "__main__":
    # The client logs to stdout unless told otherwise; stdout carries the protocol.
    eureka_logger.set_handler(logging.StreamHandler(sys.stderr))
    asyncio.run(main())
