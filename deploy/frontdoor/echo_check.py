#!/usr/bin/python3
"""Routing matrix and header pass-through of the rendered configs, against two
echo backends standing in for keystone-ng and Python Keystone (HTTP).

Each echo backend answers every request with JSON describing what it got
(which backend, method, path, headers) and a request id of its own. The
front doors must be rendered with FD_NG_ADDR / FD_PY_ADDR pointing here.

Usage: echo_check.py --ng-port P --py-port P --front NAME=URL [--front ...]
Prints "  ok   ..." / "  FAIL ..." lines; exit status = failures.
"""
import argparse
import http.client
import http.server
import json
import ssl
import sys
import threading
import urllib.parse


def backend(name, port):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _echo(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            body = json.dumps({"backend": name, "method": self.command, "path": self.path,
                               "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Openstack-Request-Id", "req-from-" + name)
            if name == "keystone-ng":
                self.send_header("OpenStack-Identity-Service", "keystone-ng")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_DELETE = do_PATCH = do_PUT = do_OPTIONS = _echo

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def request(url, method, headers):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        c = http.client.HTTPSConnection(u.hostname, u.port, timeout=30, context=ssl._create_unverified_context())
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    path = u.path + ("?" + u.query if u.query else "")
    c.request(method, path, body=b"{}" if method in ("POST", "PATCH") else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ng-port", type=int, required=True)
    ap.add_argument("--py-port", type=int, required=True)
    ap.add_argument("--front", action="append", required=True)
    a = ap.parse_args()
    backend("keystone-ng", a.ng_port)
    backend("python", a.py_port)
    fails = 0

    def check(desc, cond):
        nonlocal fails
        fails += not cond
        print("  %s %s" % ("ok  " if cond else "FAIL", desc))

    for f in a.front:
        name, base = f.split("=", 1)
        u = urllib.parse.urlsplit(base)
        prefix = u.path.rstrip("/")
        # method, path, expected backend, path the backend must see
        matrix = [
            ("GET", "/v3/auth/tokens", "keystone-ng", "/v3/auth/tokens"),
            ("GET", "/v3/auth/tokens?nocatalog&allow_expired=1", "keystone-ng", "/v3/auth/tokens?nocatalog&allow_expired=1"),
            ("HEAD", "/v3/auth/tokens", "keystone-ng", None),
            ("POST", "/v3/auth/tokens", "python", "/v3/auth/tokens"),
            ("DELETE", "/v3/auth/tokens", "python", "/v3/auth/tokens"),
            ("OPTIONS", "/v3/auth/tokens", "python", "/v3/auth/tokens"),
            ("GET", "/v3/auth/tokens/", "python", "/v3/auth/tokens/"),
            ("GET", "/v3/auth/tokens/OS-PKI/revoked", "python", "/v3/auth/tokens/OS-PKI/revoked"),
            ("GET", "/v3/users?name=x", "python", "/v3/users?name=x"),
            ("PATCH", "/v3/projects/abc", "python", "/v3/projects/abc"),
            ("GET", "/v3", "python", "/v3"),
            ("GET", "/", "python", "/"),
            ("GET", "/v4", "keystone-ng", "/v4"),
            ("POST", "/v4/federation/login", "keystone-ng", "/v4/federation/login"),
            ("GET", "/v4x", "python", "/v4x"),
        ]
        for method, path, want, seen_path in matrix:
            st, h, body = request(base + path, method, {"X-Auth-Token": "t"})
            if method == "HEAD":
                got = "keystone-ng" if h.get("openstack-identity-service") == "keystone-ng" else "python"
                check("%s: %s %s -> %s" % (name, method, path, want), st == 200 and got == want)
                continue
            try:
                e = json.loads(body)
            except ValueError:
                e = {}
            # Python is reached without the prefix in the HTTP sites; the
            # echo shows what the backend saw.
            ok = st == 200 and e.get("backend") == want and e.get("method") == method and e.get("path") == seen_path
            check("%s: %s %s -> %s %s" % (name, method, path, want, "" if ok else (st, e.get("backend"), e.get("path"))), ok)

        # header pass-through, both directions
        host = u.netloc
        st, h, body = request(base + "/v3/auth/tokens", "GET", {
            "X-Auth-Token": "t", "X-Subject-Token": "s", "X-Openstack-Request-Id": "req-client-1",
            "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "cloud.example.org"})
        hd = json.loads(body)["headers"]
        check("%s: X-Openstack-Request-Id passed to the backend" % name, hd.get("x-openstack-request-id") == "req-client-1")
        check("%s: backend's X-Openstack-Request-Id passed back" % name, h.get("x-openstack-request-id") == "req-from-keystone-ng")
        check("%s: X-Forwarded-For appended (%s)" % (name, hd.get("x-forwarded-for")),
              hd.get("x-forwarded-for", "").replace(" ", "") == "203.0.113.7,127.0.0.1")
        check("%s: X-Forwarded-Proto passed through" % name, hd.get("x-forwarded-proto") == "https")
        check("%s: X-Forwarded-Host passed through (%s)" % (name, hd.get("x-forwarded-host")),
              hd.get("x-forwarded-host", "").split(",")[0].strip() == "cloud.example.org")
        check("%s: Host preserved (%s)" % (name, hd.get("host")), hd.get("host") == host)
        st, h, body = request(base + "/v3/users", "GET", {"X-Auth-Token": "t"})
        hd = json.loads(body)["headers"]
        check("%s: without an outer proxy X-Forwarded-Proto=%s, X-Forwarded-For=127.0.0.1, X-Forwarded-Host=%s"
              % (name, u.scheme, host), hd.get("x-forwarded-proto") == u.scheme and
              hd.get("x-forwarded-for") == "127.0.0.1" and hd.get("x-forwarded-host") == host)
    return fails


if __name__ == "__main__":
    sys.exit(main())
