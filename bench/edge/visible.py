#!/usr/bin/env python3
"""bench/edge/visible.py DB_URL PROVIDER_ID COUNT ORIGIN_URL EDGE_URL OUT_ORIGIN OUT_EDGE: renames the provider COUNT
times, each over one psql session (autocommit), and after each commit polls ORIGIN_URL and EDGE_URL (both lists that
show the provider's business_name) over keep-alive connections, alternately, until each shows the new name. Appends
the milliseconds from commit to first sight to OUT_ORIGIN and OUT_EDGE, one per line; a write not seen within 10 s
counts as 10000 ms and fails the run. Before each write the edge must answer from its cache (X-Edge-Cache: HIT), so
what is measured is the purge, not an expiry.

EDGE_URL may instead be a postgresql:// URL of a streaming standby of DB_URL: then the second side is the standby
itself (the provider's name read there over one psql session), i.e. when the replica replayed the write, which is
what the origin's read-your-writes fence waits for."""

import http.client
import json
import subprocess
import sys
import time
import urllib.parse


def connection(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10), u.path + ("?" + u.query if u.query else "")


def get(conn, target):
    conn.request("GET", target)
    res = conn.getresponse()
    return res, res.read()


class Standby:
    """A psql session on a standby; shows(name) tells whether the provider has that name there yet."""

    def __init__(self, url, provider):
        self.psql = subprocess.Popen(["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.provider = int(provider)

    def shows(self, name):
        self.psql.stdin.write(f"SELECT business_name FROM service_provider_profiles WHERE user_id = {self.provider};"
                              " SELECT 'end';\n")
        lines = []
        while (line := self.psql.stdout.readline()) != "" and line.strip() != "end":
            lines.append(line.strip())
        if line == "":
            sys.exit("visible.py: the psql session on the standby ended")
        return name in lines


def main():
    db, provider, count, origin_url, edge_url, out_origin, out_edge = sys.argv[1:8]
    psql = subprocess.Popen(["psql", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    origin, origin_target = connection(origin_url)
    standby = Standby(edge_url, provider) if edge_url.startswith("postgresql:") else None
    edge, edge_target = (None, None) if standby else connection(edge_url)
    late = 0
    with open(out_origin, "a") as fo, open(out_edge, "a") as fe:
        for i in range(int(count)):
            if not standby:
                get(edge, edge_target)
                res, _ = get(edge, edge_target)
                if res.getheader("X-Edge-Cache") != "HIT":
                    sys.exit(f"visible.py: the edge does not cache {edge_url}")
            else:
                get(origin, origin_target)  # cached before the write, as at the edge
            name = f"Edge bench {i} {time.time_ns()}"
            psql.stdin.write(f"UPDATE service_provider_profiles SET business_name = '{name}' WHERE user_id = {int(provider)};"
                             " SELECT 'committed';\n")
            while (line := psql.stdout.readline()) != "" and line.strip() != "committed":
                pass
            if line == "":
                sys.exit("visible.py: the psql session on the primary ended")
            start = time.perf_counter()
            seen = {}
            while len(seen) < 2 and time.perf_counter() - start < 10:
                for side, conn, target in (("origin", origin, origin_target), ("edge", edge, edge_target)):
                    if side in seen:
                        continue
                    if standby and side == "edge":
                        if standby.shows(name):
                            seen[side] = (time.perf_counter() - start) * 1000
                        continue
                    _, body = get(conn, target)
                    if any(item.get("business_name") == name for item in json.loads(body)["data"]):
                        seen[side] = (time.perf_counter() - start) * 1000
            late += len(seen) < 2
            fo.write(f"{seen.get('origin', 10000):.3f}\n")
            fe.write(f"{seen.get('edge', 10000):.3f}\n")
            time.sleep(0.2)
    psql.stdin.close()
    psql.wait()
    if late:
        sys.exit(f"visible.py: {late} of {count} writes not visible within 10 s")


main()
