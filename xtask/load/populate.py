"""Registers APPS x PER_APP instances with a Eureka registry, over one keep-alive
connection, the way a fleet of clients would (JSON register bodies).

usage: populate.py HOST:PORT [APPS [PER_APP]]
"""
import http.client
import json
import sys


def body(app, n):
    ip = f"10.{n // 65536}.{(n // 256) % 256}.{n % 256}"
    return json.dumps({"instance": {
        "instanceId": f"{app.lower()}-{n}:{app.lower()}:8080",
        "hostName": ip, "app": app, "ipAddr": ip, "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": {"$": 8080, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                           "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 900},
        "metadata": {"zone": f"z{n % 3}", "management.port": "8081"},
        "homePageUrl": f"http://{ip}:8080/", "statusPageUrl": f"http://{ip}:8080/info",
        "healthCheckUrl": f"http://{ip}:8080/health",
        "vipAddress": app.lower(), "secureVipAddress": app.lower(),
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": "1795289864711", "lastDirtyTimestamp": "1795289864711",
    }})


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    apps = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    per_app = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for a in range(apps):
        app = f"APP{a:03d}"
        for i in range(per_app):
            conn.request("POST", f"/eureka/apps/{app}", body(app, a * per_app + i),
                         {"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            if reply.status != 204:
                sys.exit(f"register {app} #{i}: HTTP {reply.status}")
    print(f"registered {apps * per_app} instances")


main()
