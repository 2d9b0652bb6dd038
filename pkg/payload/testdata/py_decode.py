#!/usr/bin/python3
"""Decode Fernet tokens with Python Keystone's own formatter (Debian python3-keystone).

Use it to check that tokens made by keystone-ng are what Python Keystone reads.

    /usr/bin/python3 pkg/payload/testdata/py_decode.py --key-repository DIR [--methods a,b,...]
        [--default-domain-id default] [--v10] < tokens

Input on stdin: a JSON list of token strings, or one token per line (blank
lines and lines starting with '#' are skipped). DIR is a Fernet key repository
(files 0, 1, ...; the same layout keystone-manage fernet_setup writes).
``--methods`` sets ``[auth] methods`` (default: keystone's default order).

Output on stdout: a JSON list, one object per token, in input order:
    {"token": ..., "ok": true, "decoded": {user_id, methods, audit_ids, system,
     domain_id, project_id, trust_id, federated_group_ids, identity_provider_id,
     protocol_id, access_token_id, app_cred_id, thumbprint, issued_at,
     expires_at}, "payload_hex": "<msgpack plaintext>"}
or  {"token": ..., "ok": false, "error": "<ExceptionClass>: <message>"}

Keystone 22 (Zed) has no payload version 10; it rejects such tokens, and that
is what this script reports by default. ``--v10`` decodes version 10 with the
upstream (keystone >= 23) layout instead, built on keystone 22's helpers.
Exit status: 0 when every token decoded, 1 otherwise, 2 on usage errors.
"""

import argparse
import json
import logging
import sys

import msgpack

FIELDS = ('user_id', 'methods', 'audit_ids', 'system', 'domain_id', 'project_id',
          'trust_id', 'federated_group_ids', 'identity_provider_id', 'protocol_id',
          'access_token_id', 'app_cred_id', 'issued_at', 'expires_at')


def read_tokens(text):
    text = text.strip()
    if text.startswith('['):
        tokens = json.loads(text)
        if not all(isinstance(t, str) for t in tokens):
            raise ValueError('JSON input must be a list of strings')
        return tokens
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith('#')]


def decode_v10(tf, token):
    """Version 10 per upstream keystone >= 23 (absent from keystone 22)."""
    from keystone.auth import plugins as auth_plugins
    from keystone.common import utils as ks_utils
    from oslo_utils import timeutils
    bp = tf.BasePayload
    p = msgpack.unpackb(tf.TokenFormatter().unpack(token))[1:]
    expires = bp._convert_float_to_time_string(p[4])
    return {
        'user_id': bp._convert_or_decode(*p[0]),
        'methods': auth_plugins.convert_integer_to_method_list(p[1]),
        'audit_ids': [bp.base64_encode(a) for a in p[5]],
        'system': None,
        'domain_id': bp._convert_or_decode(*p[3]),
        'project_id': bp._convert_or_decode(*p[2]),
        'trust_id': None, 'federated_group_ids': None, 'identity_provider_id': None,
        'protocol_id': None, 'access_token_id': None, 'app_cred_id': None,
        'thumbprint': bp._convert_or_decode(*p[6]),
        'issued_at': ks_utils.isotime(at=tf.TokenFormatter.creation_time(token), subsecond=True),
        'expires_at': ks_utils.isotime(at=timeutils.parse_isotime(expires), subsecond=True),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--key-repository', required=True)
    ap.add_argument('--methods', help='comma-separated [auth] methods (default: keystone default)')
    ap.add_argument('--default-domain-id', default='default')
    ap.add_argument('--max-active-keys', type=int, default=3)
    ap.add_argument('--v10', action='store_true', help='decode payload version 10 like keystone >= 23')
    args = ap.parse_args()

    logging.disable(logging.CRITICAL)
    import keystone.conf
    from keystone.token import token_formatters as tf
    conf = keystone.conf.CONF
    keystone.conf.configure(conf)
    conf(args=[], project='keystone', default_config_files=[], default_config_dirs=[])
    conf.set_override('key_repository', args.key_repository, 'fernet_tokens')
    conf.set_override('max_active_keys', args.max_active_keys, 'fernet_tokens')
    conf.set_override('default_domain_id', args.default_domain_id, 'identity')
    if args.methods:
        conf.set_override('methods', [m.strip() for m in args.methods.split(',') if m.strip()], 'auth')

    try:
        tokens = read_tokens(sys.stdin.read())
    except ValueError as e:
        print('py_decode.py: bad input: %s' % e, file=sys.stderr)
        return 2

    results, all_ok = [], True
    formatter = tf.TokenFormatter()
    for token in tokens:
        res = {'token': token}
        try:
            plaintext = formatter.unpack(token)
            res['payload_hex'] = plaintext.hex()
            version = None
            try:
                version = msgpack.unpackb(plaintext)[0]
            except Exception:  # noqa: BLE001 - validate_token below reports it
                pass
            if args.v10 and version == 10:
                decoded = decode_v10(tf, token)
            else:
                decoded = dict(zip(FIELDS, formatter.validate_token(token)))
                decoded.setdefault('thumbprint', None)
            res['ok'] = True
            res['decoded'] = decoded
        except Exception as e:  # noqa: BLE001 - report whatever keystone raises
            all_ok = False
            res['ok'] = False
            res['error'] = '%s: %s' % (type(e).__name__, e)
        results.append(res)
    json.dump(results, sys.stdout, indent=1)
    sys.stdout.write('\n')
    return 0 if all_ok else 1


if __name__ == '__main__':
    sys.exit(main())
