#!/usr/bin/python3
"""Golden Fernet token vectors made by Python Keystone's own token formatter.

Regenerate (from the repository root, on Debian bookworm with the
python3-keystone package installed, e.g. by deploy/keystone-py/up.sh):

    /usr/bin/python3 pkg/payload/testdata/gen_vectors.py > pkg/payload/testdata/vectors.json

What it does
------------
* Configures keystone's global CONF minimally: no config files, a temporary
  Fernet key repository holding three fixed keys (0 = staged, 1 = secondary,
  2 = primary), default ``[auth] methods`` order, ``[identity]
  default_domain_id = default``.
* For every case below it calls the installed keystone's
  ``keystone.token.token_formatters.<Payload>.assemble`` and
  ``TokenFormatter.create_token`` code path (assemble -> msgpack.packb ->
  TokenFormatter.pack), then ``TokenFormatter.validate_token`` on the result,
  and records the inputs, the msgpack plaintext, the token and what keystone
  decodes.
* Determinism: the Fernet timestamp and IV are fixed by temporarily replacing
  ``time.time`` and ``os.urandom`` *inside cryptography.fernet* while a token is
  packed. Everything else is keystone's code. Running the script twice gives
  byte-identical output.

Payload version 10 (OAuth2 mTLS, keystone >= 23.0.0) does not exist in
Debian's keystone 22 (Zed). Cases with ``"source": "emulated-v10"`` are packed
by a small class in this file that follows the upstream layout
``[10, [b,user], methods, [b,project], [b,domain], expires, audit_ids,
[false, thumbprint]]`` using keystone 22's own helper methods; for them
``python_decoded`` is what that class decodes and ``zed_decode_error`` is what
the installed keystone 22 says about the token (it rejects version 10).

``"kind": "raw"`` cases pack the same tuples the way msgpack < 1.0 did
(``use_bin_type=False``: bytes become msgpack *str*); keystone retries with
``raw=True`` when the first unpack hits invalid UTF-8. ``"kind": "handmade"``
cases are payloads keystone would never issue (unknown version, unknown method
bits, ...) to pin down how it decodes or rejects them.

Output: JSON on stdout, see pkg/payload/testdata/README.md for the fields.
"""

import base64
import contextlib
import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
import types

import msgpack

FIXED_FERNET_TIME = 1893549845  # 2030-01-02T02:04:05Z, one hour before most expiries
EXPIRES = '2030-01-02T03:04:05.000000Z'
EXPIRES_MICRO = '2030-01-02T03:04:05.123456Z'


def fixed_key(n):
    """Deterministic 32-byte Fernet key number n, URL-safe base64 text."""
    raw = hashlib.sha256(b'keystone-ng golden vector key %d' % n).digest()
    return base64.urlsafe_b64encode(raw).decode('ascii')


KEYS = {'0': fixed_key(0), '1': fixed_key(1), '2': fixed_key(2)}


def audit(n):
    """Deterministic 22-char audit id (what keystone's random_urlsafe_str makes)."""
    raw = hashlib.sha256(b'audit %d' % n).digest()[:16]
    return base64.urlsafe_b64encode(raw).decode('ascii').rstrip('=')


def hexid(label):
    """Deterministic uuid4-hex-like id (32 lowercase hex chars)."""
    return hashlib.md5(label.encode()).hexdigest()


USER = hexid('user')
USER2 = hexid('user2')
PROJECT = hexid('project')
DOMAIN = hexid('domain')
TRUST = hexid('trust')
GROUP1 = hexid('group1')
GROUP2 = hexid('group2')
IDP_UUID = hexid('idp')
ACCESS_TOKEN = hexid('access token')
APP_CRED = hexid('app cred')
SHA256_USER = hashlib.sha256(b'federated user').hexdigest()  # 64 hex: not a UUID
HYPHEN_USER = '12345678-1234-5678-1234-567812345678'
UPPER_USER = hexid('upper').upper()
URN_USER = 'urn:uuid:' + hexid('urn')
THUMBPRINT = base64.urlsafe_b64encode(hashlib.sha256(b'-----BEGIN CERTIFICATE-----\nfake\n').digest()).decode()


def setup_keystone(repo):
    """Minimal keystone CONF: key repository, defaults for everything else."""
    import keystone.conf
    conf = keystone.conf.CONF
    keystone.conf.configure(conf)  # registers every keystone option group
    conf(args=[], project='keystone', default_config_files=[], default_config_dirs=[])
    conf.set_override('key_repository', repo, 'fernet_tokens')
    conf.set_override('max_active_keys', 3, 'fernet_tokens')
    conf.set_override('default_domain_id', 'default', 'identity')
    return conf


def write_repo(path, keys):
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    for name, key in keys.items():
        with open(os.path.join(path, name), 'w') as f:
            f.write(key)
        os.chmod(os.path.join(path, name), 0o600)


@contextlib.contextmanager
def fixed_fernet(name, when=FIXED_FERNET_TIME):
    """Make cryptography.fernet use a fixed clock and an IV derived from name."""
    from cryptography import fernet as fmod
    iv = hashlib.sha256(b'keystone-ng golden vector iv ' + name.encode()).digest()[:16]
    saved_time, saved_os = fmod.time, fmod.os
    fmod.time = types.SimpleNamespace(time=lambda: float(when))
    fmod.os = types.SimpleNamespace(urandom=lambda n: iv[:n])
    try:
        yield iv
    finally:
        fmod.time, fmod.os = saved_time, saved_os


def view(value):
    """JSON-friendly picture of an unpacked msgpack value (bytes -> {"bin": hex})."""
    if isinstance(value, bytes):
        return {'bin': value.hex()}
    if isinstance(value, (list, tuple)):
        return [view(v) for v in value]
    if isinstance(value, float):
        return {'float64': value}
    return value


def emulated_v10(tf):
    """Upstream's Oauth2CredentialsScopedPayload layout on top of keystone 22's helpers."""
    from keystone.auth import plugins as auth_plugins
    base = tf.BasePayload

    class Oauth2V10(base):
        version = 10

        @classmethod
        def assemble(cls, user_id, methods, project_id, domain_id, expires_at, audit_ids, thumbprint):
            return (cls.attempt_convert_uuid_hex_to_bytes(user_id),
                    auth_plugins.convert_method_list_to_integer(methods),
                    cls.attempt_convert_uuid_hex_to_bytes(project_id),
                    cls.attempt_convert_uuid_hex_to_bytes(domain_id),
                    cls._convert_time_string_to_float(expires_at),
                    [cls.random_urlsafe_str_to_bytes(a) for a in audit_ids],
                    (False, thumbprint))

        @classmethod
        def disassemble(cls, p):
            return {
                'user_id': cls._convert_or_decode(*p[0]),
                'methods': auth_plugins.convert_integer_to_method_list(p[1]),
                'project_id': cls._convert_or_decode(*p[2]),
                'domain_id': cls._convert_or_decode(*p[3]),
                'expires_at': cls._convert_float_to_time_string(p[4]),
                'audit_ids': [cls.base64_encode(a) for a in p[5]],
                'thumbprint': cls._convert_or_decode(*p[6]),
            }
    return Oauth2V10


DECODED_FIELDS = ('user_id', 'methods', 'audit_ids', 'system', 'domain_id', 'project_id',
                  'trust_id', 'federated_group_ids', 'identity_provider_id', 'protocol_id',
                  'access_token_id', 'app_cred_id', 'issued_at', 'expires_at')
INPUT_FIELDS = ('user_id', 'methods', 'system', 'project_id', 'domain_id', 'expires_at',
                'audit_ids', 'trust_id', 'federated_group_ids', 'identity_provider_id',
                'protocol_id', 'access_token_id', 'app_cred_id')


def zed_decode(tf, token):
    """What the installed keystone's TokenFormatter.validate_token returns (or raises)."""
    try:
        out = tf.TokenFormatter().validate_token(token)
    except Exception as e:  # noqa: BLE001 - we record whatever keystone raises
        return None, '%s: %s' % (type(e).__name__, e)
    d = dict(zip(DECODED_FIELDS, out))
    d['thumbprint'] = None  # keystone 22 has no thumbprint field
    return d, None


def main():
    from keystone.token import token_formatters as tf

    tmp = tempfile.mkdtemp(prefix='ksng-vectors-')
    try:
        repo = os.path.join(tmp, 'fernet-keys')
        write_repo(repo, KEYS)
        conf = setup_keystone(repo)
        v10 = emulated_v10(tf)
        out = {
            'generator': 'pkg/payload/testdata/gen_vectors.py',
            'python_keystone': package_version('python3-keystone'),
            'msgpack': '.'.join(map(str, msgpack.version)),
            'auth_methods': list(conf.auth.methods),
            'default_domain_id': conf.identity.default_domain_id,
            'keys': KEYS,
            'primary_key': '2',
            'fernet_timestamp': FIXED_FERNET_TIME,
            'vectors': [],
        }

        def base(**kw):
            fields = dict.fromkeys(INPUT_FIELDS)
            fields.update(expires_at=EXPIRES, audit_ids=[audit(1)], methods=['password'])
            fields.update(kw)
            return fields

        P = tf  # payload classes live in the module
        cases = [
            # name, payload class, fields
            ('v0_unscoped_uuid_user', P.UnscopedPayload, base(user_id=USER)),
            ('v0_unscoped_nonuuid_user_admin', P.UnscopedPayload, base(user_id='admin')),
            ('v0_unscoped_sha256_user', P.UnscopedPayload, base(user_id=SHA256_USER)),
            ('v0_unscoped_hyphenated_uuid_user', P.UnscopedPayload, base(user_id=HYPHEN_USER)),
            ('v0_unscoped_uppercase_uuid_user', P.UnscopedPayload, base(user_id=UPPER_USER)),
            ('v0_unscoped_urn_uuid_user', P.UnscopedPayload, base(user_id=URN_USER)),
            ('v0_unscoped_two_audit_ids', P.UnscopedPayload, base(user_id=USER, audit_ids=[audit(1), audit(2)])),
            ('v0_unscoped_expiry_microseconds', P.UnscopedPayload, base(user_id=USER, expires_at=EXPIRES_MICRO)),
            ('v0_methods_none', P.UnscopedPayload, base(user_id=USER, methods=[])),
            ('v0_methods_external', P.UnscopedPayload, base(user_id=USER, methods=['external'])),
            ('v0_methods_password_token', P.UnscopedPayload, base(user_id=USER, methods=['password', 'token'])),
            ('v0_methods_token_password_order', P.UnscopedPayload, base(user_id=USER, methods=['token', 'password'])),
            ('v0_methods_mapped_token', P.UnscopedPayload, base(user_id=USER, methods=['mapped', 'token'])),
            ('v0_methods_all_default', P.UnscopedPayload,
             base(user_id=USER, methods=['external', 'password', 'token', 'oauth1', 'mapped', 'application_credential'])),
            ('v0_methods_totp_not_configured', P.UnscopedPayload, base(user_id=USER, methods=['totp'])),
            ('v0_methods_password_totp', P.UnscopedPayload, base(user_id=USER, methods=['password', 'totp'])),
            ('v0_methods_ec2credential', P.UnscopedPayload, base(user_id=USER, methods=['ec2credential'])),
            ('v0_methods_oauth2_credential', P.UnscopedPayload, base(user_id=USER, methods=['oauth2_credential'])),
            ('v0_methods_token_ec2credential', P.UnscopedPayload, base(user_id=USER, methods=['token', 'ec2credential'])),
            ('v1_domain_default', P.DomainScopedPayload, base(user_id=USER, domain_id='default')),
            ('v1_domain_uuid', P.DomainScopedPayload, base(user_id=USER, domain_id=DOMAIN)),
            ('v1_domain_uuid_nonuuid_user', P.DomainScopedPayload, base(user_id='admin', domain_id=DOMAIN)),
            ('v1_domain_hyphenated_uuid', P.DomainScopedPayload, base(user_id=USER, domain_id=HYPHEN_USER)),
            ('v2_project_uuid', P.ProjectScopedPayload, base(user_id=USER, project_id=PROJECT)),
            ('v2_project_nonuuid_ids', P.ProjectScopedPayload, base(user_id='admin', project_id='admin-project')),
            ('v2_project_uppercase_project', P.ProjectScopedPayload, base(user_id=USER, project_id=PROJECT.upper())),
            ('v2_project_rescoped_two_audit_ids', P.ProjectScopedPayload,
             base(user_id=USER, project_id=PROJECT, methods=['password', 'token'], audit_ids=[audit(3), audit(1)])),
            ('v2_project_expiry_microseconds', P.ProjectScopedPayload,
             base(user_id=USER, project_id=PROJECT, expires_at=EXPIRES_MICRO)),
            ('v3_trust', P.TrustScopedPayload, base(user_id=USER2, project_id=PROJECT, trust_id=TRUST)),
            ('v3_trust_token_method', P.TrustScopedPayload,
             base(user_id=USER2, project_id=PROJECT, trust_id=TRUST, methods=['token'], audit_ids=[audit(4), audit(5)])),
            ('v4_federated_unscoped_no_groups', P.FederatedUnscopedPayload,
             base(user_id=SHA256_USER, methods=['mapped'], federated_group_ids=[], identity_provider_id='myidp', protocol_id='saml2')),
            ('v4_federated_unscoped_groups', P.FederatedUnscopedPayload,
             base(user_id=SHA256_USER, methods=['mapped'], federated_group_ids=[{'id': GROUP1}, {'id': GROUP2}, {'id': 'federated_users'}],
                  identity_provider_id='myidp', protocol_id='openid')),
            ('v4_federated_unscoped_uuid_idp', P.FederatedUnscopedPayload,
             base(user_id=USER, methods=['mapped'], federated_group_ids=[{'id': GROUP1}], identity_provider_id=IDP_UUID, protocol_id='saml2')),
            ('v5_federated_project', P.FederatedProjectScopedPayload,
             base(user_id=SHA256_USER, methods=['token'], project_id=PROJECT, federated_group_ids=[{'id': GROUP1}],
                  identity_provider_id='myidp', protocol_id='saml2', audit_ids=[audit(6), audit(7)])),
            ('v5_federated_project_no_groups', P.FederatedProjectScopedPayload,
             base(user_id=SHA256_USER, methods=['mapped'], project_id=PROJECT, federated_group_ids=[],
                  identity_provider_id='myidp', protocol_id='mapped')),
            ('v6_federated_domain', P.FederatedDomainScopedPayload,
             base(user_id=SHA256_USER, methods=['token'], domain_id=DOMAIN, federated_group_ids=[{'id': GROUP1}, {'id': GROUP2}],
                  identity_provider_id='myidp', protocol_id='saml2')),
            ('v6_federated_default_domain', P.FederatedDomainScopedPayload,
             base(user_id=SHA256_USER, methods=['mapped'], domain_id='default', federated_group_ids=[{'id': GROUP1}],
                  identity_provider_id='myidp', protocol_id='saml2')),
            ('v7_oauth1', P.OauthScopedPayload,
             base(user_id=USER, methods=['oauth1'], project_id=PROJECT, access_token_id=ACCESS_TOKEN)),
            ('v7_oauth1_nonuuid_access_token', P.OauthScopedPayload,
             base(user_id=USER, methods=['oauth1'], project_id=PROJECT, access_token_id='at-1')),
            ('v8_system', P.SystemScopedPayload, base(user_id=USER, system='all')),
            ('v8_system_nonuuid_user', P.SystemScopedPayload, base(user_id='admin', system='all', methods=['password', 'token'])),
            ('v9_app_cred', P.ApplicationCredentialScopedPayload,
             base(user_id=USER, methods=['application_credential'], project_id=PROJECT, app_cred_id=APP_CRED)),
            ('v9_app_cred_nonuuid', P.ApplicationCredentialScopedPayload,
             base(user_id='admin', methods=['application_credential'], project_id='admin-project', app_cred_id='my-app-cred')),
        ]

        for name, cls, fields in cases:
            payload = cls.assemble(*(fields[k] for k in INPUT_FIELDS))
            out['vectors'].append(issue(tf, name, 'issued', cls.version, fields, (cls.version,) + payload, 'keystone-22'))

        # version 10 (see the module docstring)
        v10_cases = [
            ('v10_oauth2_nil_domain', dict(user_id=USER, methods=['oauth2_credential'], project_id=PROJECT, domain_id=None,
                                           expires_at=EXPIRES, audit_ids=[audit(8)], thumbprint=THUMBPRINT)),
            ('v10_oauth2_uuid_domain', dict(user_id='admin', methods=['oauth2_credential'], project_id=PROJECT, domain_id=DOMAIN,
                                            expires_at=EXPIRES_MICRO, audit_ids=[audit(8), audit(9)], thumbprint=THUMBPRINT)),
        ]
        for name, fields in v10_cases:
            payload = (10,) + v10.assemble(**fields)
            out['vectors'].append(issue(tf, name, 'issued', 10, fields, payload, 'emulated-v10', v10=v10))

        # tokens encrypted with a non-primary key (repository still holds all three)
        for keyname in ('1', '0'):
            fields = base(user_id=USER, project_id=PROJECT)
            payload = (2,) + tf.ProjectScopedPayload.assemble(*(fields[k] for k in INPUT_FIELDS))
            write_repo(repo, {keyname: KEYS[keyname]})
            try:
                vec = issue(tf, 'v2_project_encrypted_with_key_%s' % keyname, 'issued', 2, fields, payload, 'keystone-22',
                            decode_repo=(repo, KEYS))
            finally:
                write_repo(repo, KEYS)
            vec['encrypted_with_key'] = keyname
            out['vectors'].append(vec)

        # msgpack < 1.0 style: bytes packed as str
        raw_cases = [
            ('raw_v0_unscoped_uuid_user', 'v0_unscoped_uuid_user'),
            ('raw_v1_domain_default', 'v1_domain_default'),
            ('raw_v2_project_uuid', 'v2_project_uuid'),
            ('raw_v3_trust', 'v3_trust'),
            ('raw_v4_federated_unscoped_groups', 'v4_federated_unscoped_groups'),
            ('raw_v8_system', 'v8_system'),
            ('raw_v9_app_cred_nonuuid', 'v9_app_cred_nonuuid'),
        ]
        by_name = {c[0]: c for c in cases}
        for name, src in raw_cases:
            _, cls, fields = by_name[src]
            payload = (cls.version,) + cls.assemble(*(fields[k] for k in INPUT_FIELDS))
            out['vectors'].append(issue(tf, name, 'raw', cls.version, fields, payload, 'keystone-22', use_bin_type=False))

        # raw form where every byte string happens to be valid UTF-8: the first
        # unpack succeeds, byte fields arrive as str, and keystone cannot decode
        ascii_user = '30313233-3435-3637-3839-616263646566'  # UUID bytes = b'0123456789abcdef'
        fields = base(user_id=ascii_user, audit_ids=['MDEyMzQ1Njc4OWFiY2RlZg'])  # audit bytes = b'0123456789abcdef'
        payload = (0,) + tf.UnscopedPayload.assemble(*(fields[k] for k in INPUT_FIELDS))
        out['vectors'].append(issue(tf, 'raw_v0_all_bytes_valid_utf8', 'raw', 0, fields, payload, 'keystone-22', use_bin_type=False))

        # payloads keystone never issues
        ub = tf.BasePayload.convert_uuid_hex_to_bytes
        exp = tf.BasePayload._convert_time_string_to_float(EXPIRES)
        a1 = tf.BasePayload.random_urlsafe_str_to_bytes(audit(1))
        handmade = [
            ('hand_unknown_version_11', (11, (True, ub(USER)), 2, exp, [a1])),
            ('hand_methods_unknown_bit_64', (0, (True, ub(USER)), 64, exp, [a1])),
            ('hand_methods_unknown_bit_plus_password', (0, (True, ub(USER)), 66, exp, [a1])),
            ('hand_methods_high_bits_only', (0, (True, ub(USER)), (1 << 32) | (1 << 33), exp, [a1])),
            ('hand_expires_integer', (0, (True, ub(USER)), 2, 1893553445, [a1])),
            ('hand_v1_non_default_nonuuid_domain', (1, (True, ub(USER)), 2, 'otherdomain', exp, [a1])),
            ('hand_v0_no_audit_ids', (0, (True, ub(USER)), 2, exp, [])),
            ('hand_receipt_shape', ((True, ub(USER)), 2, exp)),
        ]
        for name, payload in handmade:
            ver = payload[0] if isinstance(payload[0], int) else None
            out['vectors'].append(issue(tf, name, 'handmade', ver, None, payload, 'keystone-22'))

        json.dump(out, sys.stdout, indent=1, sort_keys=False)
        sys.stdout.write('\n')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def issue(tf, name, kind, version, fields, payload, source, use_bin_type=True, v10=None, decode_repo=None):
    """Pack payload the way TokenFormatter.create_token does and decode it back."""
    plaintext = msgpack.packb(payload, use_bin_type=use_bin_type)
    with fixed_fernet(name) as iv:
        token = tf.TokenFormatter().pack(plaintext)
    if decode_repo is not None:
        write_repo(decode_repo[0], decode_repo[1])
    vec = {
        'name': name,
        'kind': kind,
        'version': version,
        'source': source,
        'input': json_fields(fields),
        'payload_hex': plaintext.hex(),
        'payload_view': view(payload),
        'fernet_iv_hex': iv.hex(),
        'fernet_timestamp': FIXED_FERNET_TIME,
        'encrypted_with_key': '2',
        'token': token,
    }
    decoded, err = zed_decode(tf, token)
    if v10 is not None:
        vec['zed_decode_error'] = err
        unpacked = msgpack.unpackb(tf.TokenFormatter().unpack(token))
        d = dict.fromkeys(DECODED_FIELDS)
        d['thumbprint'] = None
        d.update(v10.disassemble(unpacked[1:]))
        issued = tf.TokenFormatter.creation_time(token)
        from keystone.common import utils as ks_utils
        from oslo_utils import timeutils
        d['issued_at'] = ks_utils.isotime(at=issued, subsecond=True)
        d['expires_at'] = ks_utils.isotime(at=timeutils.parse_isotime(d['expires_at']), subsecond=True)
        vec['python_decoded'] = d
        vec['decode_error'] = None
    else:
        vec['python_decoded'] = decoded
        vec['decode_error'] = err
    return vec


def json_fields(fields):
    if fields is None:
        return None
    return {k: v for k, v in fields.items()}


def package_version(pkg):
    try:
        with open('/var/lib/dpkg/status', encoding='utf-8') as f:
            block = f.read().split('\n\nPackage: %s\n' % pkg, 1)[1].split('\n\n', 1)[0]
        for line in block.splitlines():
            if line.startswith('Version: '):
                return line[len('Version: '):]
    except (OSError, IndexError):
        pass
    return None


if __name__ == '__main__':
    # keystone logs through oslo.log; keep stdout for JSON only
    import logging
    logging.disable(logging.CRITICAL)
    datetime  # noqa: B018 - imported for readers of payload helpers
    main()
