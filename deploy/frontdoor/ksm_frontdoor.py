#!/usr/bin/python3
"""keystonemiddleware (Debian's python3-keystonemiddleware) pointed at a front door.

auth_token protects a small WSGI app; its identity endpoint is the front
door (nginx or Apache with the shipped configs), registered as the identity
endpoint of its own region. A valid token must be accepted, a revoked one
(and garbage) rejected. Prints one line per case; exit status = failures.

With --restricted-save FILE it also makes a restricted token (RFC 8693
token exchange at the front door's /v4/oauth2/token: reader only, one
access rule GET /allowed on the identity service) and checks that
auth_token with service_type = identity lets it call GET /allowed with
the reader role alone, and refuses it any other path or method; the token
is saved to FILE. --restricted-use FILE runs the same checks on a saved
token (with keystone-ng down, Python's answer must keep the restriction).

Usage: ksm_frontdoor.py --front-url http://127.0.0.1:5820 --python-url http://127.0.0.1:5811 --region fd-nginx
"""
import argparse
import json
import sys
import urllib.error
import urllib.parse
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
    ap.add_argument("--restricted-save")
    ap.add_argument("--restricted-use")
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
        seen["roles"] = environ.get("HTTP_X_ROLES")
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
    if a.restricted_save or a.restricted_use:
        fails += restricted(a, front, app, conf, valid, seen)
    return fails


def exchange(front, subject):
    """A restricted token: reader only, GET /allowed on identity."""
    form = urllib.parse.urlencode({
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": subject, "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "scope": "role:reader",
        "authorization_details": json.dumps([{"type": "openstack_access_rule", "service": "identity",
                                              "method": "GET", "path": "/allowed"}])}).encode()
    req = urllib.request.Request(front + "/v4/oauth2/token", method="POST", data=form)
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200, r.status
        return json.loads(r.read())["access_token"]


def restricted(a, front, app, conf, subject, seen):
    if a.restricted_use:
        with open(a.restricted_use) as f:
            tok = f.read().strip()
    else:
        tok = exchange(front, subject)
        with open(a.restricted_save, "w") as f:
            f.write(tok)
    # keystonemiddleware enforces access rules only where it knows the
    # service it protects.
    mw = auth_token.AuthProtocol(app, dict(conf, service_type="identity"))
    fails = 0
    for name, method, path, want in [("restricted token on its access rule", "GET", "/allowed", 200),
                                     ("restricted token on another path", "GET", "/other", 401),
                                     ("restricted token with another method", "POST", "/allowed", 401)]:
        req = webob.Request.blank(path, method=method, headers={"X-Auth-Token": tok})
        seen.clear()
        status = req.get_response(mw).status_int
        roles = seen.get("roles") if status == 200 else None
        ok = status == want and (want != 200 or roles == "reader")
        fails += not ok
        print("ksm %s %s: %s roles=%s -> %s" % (a.region, name, status, roles, "ok" if ok else "FAIL"))
    return fails


if __name__ == "__main__":
    sys.exit(main())
