#!/usr/bin/python3
"""keystonemiddleware (Debian's python3-keystonemiddleware) pointed at a front door.

auth_token protects a small WSGI app; its identity endpoint is the front
door (nginx or Apache with the shipped configs), registered as the identity
endpoint of its own region. A valid token must be accepted, a revoked one
(and garbage) rejected. Prints one line per case; exit status = failures.

Usage: ksm_frontdoor.py --front-url http://127.0.0.1:5820 --python-url http://127.0.0.1:5811 --region fd-nginx
"""
import argparse
import json
import sys
import urllib.error
import urllib.request

import webob
from keystonemiddleware import auth_token


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


def password_token(base, a):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": a.user, "domain": {"id": "default"}, "password": a.password}}},
        "scope": {"project": {"name": a.project, "domain": {"id": "default"}}}}
    st, h, b = call("POST", base + "/v3/auth/tokens", body={"auth": auth})
    assert st == 201, (st, b)
    return h["X-Subject-Token"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--front-url", required=True)
    ap.add_argument("--python-url", required=True)
    ap.add_argument("--region", required=True)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--project", default="admin")
    a = ap.parse_args()
    front, py = a.front_url.rstrip("/"), a.python_url.rstrip("/")
    admin = password_token(py, a)
    call("POST", py + "/v3/regions", admin, {"region": {"id": a.region}})
    _, _, b = call("GET", py + "/v3/services?type=identity", admin)
    svc = json.loads(b)["services"][0]["id"]
    _, _, b = call("GET", py + "/v3/endpoints?region_id=%s&service_id=%s" % (a.region, svc), admin)
    have = {e["interface"] for e in json.loads(b)["endpoints"]}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            st, _, b = call("POST", py + "/v3/endpoints", admin, {"endpoint": {
                "service_id": svc, "interface": iface, "url": front + "/v3", "region_id": a.region}})
            assert st == 201, (st, b)

    seen = {}

    def app(environ, start_response):
        seen.clear()
        seen["status"] = environ.get("HTTP_X_IDENTITY_STATUS")
        seen["project"] = environ.get("HTTP_X_PROJECT_NAME")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    conf = {"auth_type": "password", "auth_url": front + "/v3", "username": a.user, "password": a.password,
            "project_name": a.project, "user_domain_id": "default", "project_domain_id": "default",
            "region_name": a.region, "interface": "internal", "www_authenticate_uri": front + "/v3",
            "token_cache_time": "-1", "log_name": "ksm"}
    mw = auth_token.AuthProtocol(app, conf)

    def verdict(tok):
        req = webob.Request.blank("/", headers={"X-Auth-Token": tok} if tok else {})
        seen.clear()
        return req.get_response(mw).status_int, dict(seen)

    valid = password_token(front, a)
    revoked = password_token(front, a)
    st, _, _ = call("DELETE", front + "/v3/auth/tokens", admin, subject=revoked)
    assert st == 204, st
    cases = [("valid token accepted", valid, 200, "Confirmed"),
             ("revoked token rejected", revoked, 401, None),
             ("garbage token rejected", "garbage", 401, None)]
    fails = 0
    for name, tok, want, ident in cases:
        got = verdict(tok)
        ok = got[0] == want and (ident is None or (got[1].get("status") == ident and got[1].get("project") == a.project))
        fails += not ok
        print("ksm %s %s: %s -> %s" % (a.region, name, got, "ok" if ok else "FAIL"))
    return fails


if __name__ == "__main__":
    sys.exit(main())
