#!/usr/bin/python3
"""keystonemiddleware against keystone-ng and against Python Keystone.

Debian's keystonemiddleware (auth_token) protects a small WSGI app twice:
once with Python Keystone as its identity endpoint, once with a front door
that sends GET/HEAD /v3/auth/tokens to keystone-ng and everything else to
Python Keystone (what the nginx and Apache configs do in production). The
same tokens go through both; the verdicts and the identity headers the
middleware hands to the app must be the same, and the front door must show
that keystone-ng answered the validations of the second instance.

Usage: ksm_check.py --python-url http://127.0.0.1:5102 --ng-url http://127.0.0.1:5991
       [--user admin --password secret --project admin]
Exits non-zero on any disagreement. Loopback only.
"""
import argparse
import http.client
import http.server
import json
import sys
import threading
import time
import urllib.parse
import urllib.request

import webob
from keystonemiddleware import auth_token

HEADERS = ["X-Identity-Status", "X-User-Id", "X-User-Name", "X-User-Domain-Id", "X-Project-Id",
           "X-Project-Name", "X-Project-Domain-Id", "X-Domain-Id", "X-Roles", "X-Is-Admin-Project"]


class FrontDoor(http.server.ThreadingHTTPServer):
    """Routes like the shipped web-server configs: validation to keystone-ng."""

    def __init__(self, python, ng):
        super().__init__(("127.0.0.1", 0), Handler)
        self.python, self.ng = python, ng
        self.counts = {"python": 0, "keystone-ng": 0}
        self.lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _forward(self):
        path = urllib.parse.urlsplit(self.path).path
        to_ng = self.command in ("GET", "HEAD") and path.rstrip("/") == "/v3/auth/tokens"
        target = self.server.ng if to_ng else self.server.python
        with self.server.lock:
            self.server.counts["keystone-ng" if to_ng else "python"] += 1
        body = None
        if "Content-Length" in self.headers:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        u = urllib.parse.urlsplit(target)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        served_by = resp.getheader("OpenStack-Identity-Service", "python")
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("X-Served-By", served_by)
        self.send_header("Content-Length", str(len(data)) if self.command != "HEAD" else resp.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = do_HEAD = _forward


def call(method, url, token=None, body=None, subject=None):
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    if subject:
        req.add_header("X-Subject-Token", subject)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def password_token(base, user, password, project=None):
    scope = {"project": {"name": project, "domain": {"id": "default"}}} if project else None
    auth = {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}}}
    if scope:
        auth["scope"] = scope
    st, h, _ = call("POST", base + "/v3/auth/tokens", body={"auth": auth})
    assert st == 201, (st, h)
    return h["X-Subject-Token"]


def ensure_region_endpoint(base, admin, region, url):
    call("POST", base + "/v3/regions", admin, {"region": {"id": region, "description": "keystonemiddleware front-door test"}})
    st, _, b = call("GET", base + "/v3/services?type=identity", admin)
    svc = json.loads(b)["services"][0]["id"]
    st, _, b = call("GET", base + "/v3/endpoints?region_id=%s&service_id=%s" % (region, svc), admin)
    have = {e["interface"] for e in json.loads(b)["endpoints"] if e["url"] == url}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            st, _, b = call("POST", base + "/v3/endpoints", admin,
                            {"endpoint": {"service_id": svc, "interface": iface, "url": url, "region_id": region}})
            assert st == 201, (st, b)


def middleware(base, region, args):
    seen = {}

    def app(environ, start_response):
        seen.clear()
        for h in HEADERS:
            key = "HTTP_" + h.upper().replace("-", "_")
            if key in environ:
                seen[h] = environ[key]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    conf = {
        "auth_type": "password", "auth_url": base + "/v3", "username": args.user, "password": args.password,
        "project_name": args.project, "user_domain_id": "default", "project_domain_id": "default",
        "region_name": region, "interface": "internal", "www_authenticate_uri": base + "/v3",
        "delay_auth_decision": "true", "include_service_catalog": "true", "token_cache_time": "-1",
        "log_name": "ksm",
    }
    return auth_token.AuthProtocol(app, conf), seen


def verdict(mw, seen, token):
    req = webob.Request.blank("/", headers={"X-Auth-Token": token} if token else {})
    resp = req.get_response(mw)
    out = {k: v for k, v in seen.items()}
    if "X-Roles" in out:
        out["X-Roles"] = ",".join(sorted(out["X-Roles"].split(",")))
    return resp.status_int, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python-url", required=True)
    ap.add_argument("--ng-url", required=True)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--project", default="admin")
    args = ap.parse_args()
    py = args.python_url.rstrip("/")
    # Earlier tests crash uWSGI workers on purpose (malformed payloads); wait
    # until Python answers steadily again before comparing.
    for _ in range(30):
        try:
            if all(call("GET", py + "/v3")[0] == 200 for _ in range(3)):
                break
        except Exception:
            pass
        time.sleep(1)

    front = FrontDoor(py, args.ng_url.rstrip("/"))
    threading.Thread(target=front.serve_forever, daemon=True).start()
    front_url = "http://127.0.0.1:%d" % front.server_address[1]

    admin = password_token(py, args.user, args.password, args.project)
    # The front door is registered as the identity endpoint of its own region,
    # so the middleware configured for that region validates through it.
    ensure_region_endpoint(py, admin, "ksm-front-door", front_url + "/v3")

    direct, direct_seen = middleware(py, "RegionOne", args)
    fronted, fronted_seen = middleware(front_url, "ksm-front-door", args)

    valid = password_token(py, args.user, args.password, args.project)
    unscoped = password_token(py, args.user, args.password)
    revoked = password_token(py, args.user, args.password, args.project)
    st, _, _ = call("DELETE", py + "/v3/auth/tokens", admin, subject=revoked)
    assert st == 204, st
    cases = [
        ("project token", valid, 200, "Confirmed"),
        ("unscoped token", unscoped, 200, "Confirmed"),
        ("revoked token", revoked, 200, "Invalid"),
        ("garbage", "garbage", 200, "Invalid"),
        ("truncated", valid[:-8], 200, "Invalid"),
        ("no token", None, 200, "Invalid"),
    ]
    failures = 0
    before = dict(front.counts)
    for name, tok, want_status, want_identity in cases:
        a = verdict(direct, direct_seen, tok)
        b = verdict(fronted, fronted_seen, tok)
        ok = a == b and a[0] == want_status and a[1].get("X-Identity-Status") == want_identity
        if not ok:
            # A uWSGI worker of Python's may reset a connection while it
            # respawns; ask both once more before calling it a mismatch.
            time.sleep(1)
            a = verdict(direct, direct_seen, tok)
            b = verdict(fronted, fronted_seen, tok)
            ok = a == b and a[0] == want_status and a[1].get("X-Identity-Status") == want_identity
        failures += not ok
        print("%-16s python=%s keystone-ng=%s %s" % (name, a, b, "ok" if ok else "MISMATCH"))
    ng_calls = front.counts["keystone-ng"] - before["keystone-ng"]
    print("validations answered by keystone-ng through the front door: %d" % ng_calls)
    if ng_calls < 4:
        print("expected keystone-ng to answer the validations of the fronted middleware")
        failures += 1
    front.shutdown()
    print("keystonemiddleware: %d passed, %d failed" % (len(cases) + 1 - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
