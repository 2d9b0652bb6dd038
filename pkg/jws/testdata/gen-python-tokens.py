# Regenerates python-tokens.json and public.pem: tokens minted by Debian's
# Python Keystone 22 JWSFormatter (keystone/token/providers/jws/core.py)
# with a fresh key pair, and what its validate_token returns for each.
# Run with Debian's python3 (python3-keystone installed), from this
# directory: python3 gen-python-tokens.py > python-tokens.json
import datetime
import json
import os
import sys
import tempfile

import keystone.conf
from keystone.common import jwt_utils, utils

CONF = keystone.conf.CONF
for m in keystone.conf.conf_modules:
    m.register_opts(CONF)
CONF([], project="keystone", default_config_files=[])
tmp = tempfile.mkdtemp()
os.mkdir(os.path.join(tmp, "priv"))
os.mkdir(os.path.join(tmp, "pub"))
jwt_utils.create_jws_keypair(os.path.join(tmp, "priv", "private.pem"), os.path.join(tmp, "pub", "public.pem"))
with open(os.path.join(tmp, "pub", "public.pem")) as src, open("public.pem", "w") as dst:
    dst.write(src.read())
CONF.set_override("jws_private_key_repository", os.path.join(tmp, "priv"), group="jwt_tokens")
CONF.set_override("jws_public_key_repository", os.path.join(tmp, "pub"), group="jwt_tokens")
from keystone.token.providers.jws.core import JWSFormatter  # noqa: E402

f = JWSFormatter()
exp = utils.isotime(datetime.datetime(2030, 1, 2, 3, 4, 5, 678901), subsecond=True)
U = "0123456789abcdef0123456789abcdef"
P = "fedcba9876543210fedcba9876543210"
A = ["AAAAAAAAAAAAAAAAAAAAAA"]
A2 = ["AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"]
cases = {
    "unscoped": dict(methods=["password"], audit_ids=A),
    "project": dict(methods=["password", "token"], audit_ids=A2, project_id=P),
    "domain": dict(methods=["password"], audit_ids=A, domain_id="default"),
    "system": dict(methods=["password"], audit_ids=A, system="all"),
    "trust": dict(methods=["password"], audit_ids=A, project_id=P, trust_id="11111111111111111111111111111111"),
    "federated_unscoped": dict(methods=["mapped"], audit_ids=A, federated_group_ids=[{"id": "g1"}, {"id": "g2"}], identity_provider_id="idp", protocol_id="openid"),
    "federated_project": dict(methods=["mapped", "token"], audit_ids=A2, project_id=P, federated_group_ids=[], identity_provider_id="idp", protocol_id="openid"),
    "federated_domain": dict(methods=["mapped"], audit_ids=A, domain_id="dom1", federated_group_ids=[{"id": "g1"}], identity_provider_id="idp", protocol_id="saml2"),
    "oauth1": dict(methods=["oauth1"], audit_ids=A, project_id=P, access_token_id="22222222222222222222222222222222"),
    "app_cred": dict(methods=["application_credential"], audit_ids=A, project_id=P, app_cred_id="33333333333333333333333333333333"),
    "non_ascii_user": dict(methods=["password"], audit_ids=A, user_id="us\u00e9r"),
}
keys = ["user_id", "methods", "audit_ids", "system", "domain_id", "project_id", "trust_id",
        "federated_group_ids", "identity_provider_id", "protocol_id", "access_token_id",
        "app_cred_id", "issued_at", "expires_at"]
out = {}
for name, kw in cases.items():
    uid = kw.pop("user_id", U)
    methods = kw.pop("methods")
    audit = kw.pop("audit_ids")
    tok, issued = f.create_token(uid, exp, list(audit), methods, **kw)
    out[name] = {"token": tok, "python": dict(zip(keys, f.validate_token(tok)))}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
