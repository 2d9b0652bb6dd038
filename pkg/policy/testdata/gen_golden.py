#!/usr/bin/python3
"""Generate golden outcomes for pkg/policy from the real oslo.policy.

Run with Debian's interpreter (python3-oslo.policy 4.0.0, python3-keystone
22.0.2) from the repository root:

    /usr/bin/python3 pkg/policy/testdata/gen_golden.py > pkg/policy/testdata/golden.json

The Go test (golden_test.go) replays every case against pkg/policy.
"""
import copy
import json
import os
import shutil
import sys
import tempfile

import oslo_policy
from oslo_config import cfg
from oslo_policy import _parser
from oslo_policy import _checks
from oslo_policy import policy

# Silence oslo's logging of malformed rules.
import logging
logging.disable(logging.CRITICAL)
import warnings
warnings.simplefilter("ignore")

# ---------------------------------------------------------------- parsing
PARSE = [
    "", " ", "@", "!", "role:admin", "ROLE:admin", "rule:foo",
    "a:1 and b:2", "a:1 or b:2", "not a:1", "a:1 and b:2 and c:3",
    "a:1 or b:2 or c:3", "a:1 or b:2 and c:3", "a:1 and b:2 or c:3",
    "a:1 or b:2 and c:3 and d:4", "a:1 or b:2 and c:3 or d:4",
    "not a:1 and b:2", "a:1 and not b:2", "not not a:1", "a:1 or not b:2 and c:3",
    "(a:1 or b:2) and c:3", "a:1 or (b:2 and c:3) and d:4", "((a:1))",
    "(a:1 and b:2) or (c:3 and d:4)", "( a:1 )", "(a:1", "a:1)", "()",
    "a:1 AND b:2", "a:1 Or b:2", "NOT a:1", "a:1 b:2", "and", "or", "not",
    "(", ")", "a:1 and", "or a:1", "a:1 not b:2", "'quoted'", "\"dq\"",
    "role:'admin'", "'Member':%(role.name)s", "True:%(user.enabled)s",
    "noColon", "a:1 and noColon", "http://example.com/check", "https:x",
    "user_id:%(target.token.user_id)s", "a:b:c", "kind:", ":match",
    "a:1\tand\nb:2", "(not a:1)", "not (a:1 or b:2)", "(a:1)) or b:2",
    "a:(x)", "a:%(x)s)", "((a:1 or b:2) and (c:3 or d:4)) or e:5",
    "rule:admin_required or (role:reader and system_scope:all) or rule:service_role or rule:token_subject",
    "@ and !", "! or @", "not @", "a:1 or b:2 and c:3 and (d:4 or e:5)",
    "a:1 or (b:2 and c:3) and d:4 or e:5",
]



def random_rules(n, seed=20261123, vocab=None):
    """Deterministic token soup for differential parser testing."""
    import random
    rnd = random.Random(seed)
    vocab = vocab or ["a:1", "b:%(x)s", "role:r", "rule:q", "and", "or", "not", "AND",
             "Or", "NOT", "(", ")", "@", "!", "noColon", "'s'", '"d"',
             "c:3", "http://h/"]
    out = []
    for _ in range(n):
        words = []
        for _ in range(rnd.randint(1, 9)):
            w = rnd.choice(vocab)
            if rnd.random() < 0.25:
                w = "(" * rnd.randint(1, 2) + w
            if rnd.random() < 0.25:
                w = w + ")" * rnd.randint(1, 2)
            words.append(w)
        sep = rnd.choice([" ", " ", "  ", "\t"])
        out.append(sep.join(words))
    return out


PARSE += random_rules(1500)

# ---------------------------------------------------------------- evaluation
# Each case: rules dict (rule "r" is enforced), target, creds.
BASE_CREDS = {
    "user_id": "u1", "roles": ["Member", "reader"], "project_id": "p1",
    "domain_id": None, "system_scope": None, "is_admin": False,
    "nested": {"a": {"b": "deep"}, "l": [{"x": "1"}, {"x": "2"}]},
    "tags": ["t1", "t2"], "num": 5, "flag": True, "none": None,
}
BASE_TARGET = {"target.token.user_id": "u1", "target.other": "zzz",
               "num": 5, "flag": True, "role.name": "Member",
               "user.enabled": True}

EVAL = [
    # (name, rules, target overrides, creds overrides)
    ("true_at", {"r": "@"}, {}, {}),
    ("false_bang", {"r": "!"}, {}, {}),
    ("empty", {"r": ""}, {}, {}),
    ("whitespace_only", {"r": "  "}, {}, {}),
    ("role_case", {"r": "role:member"}, {}, {}),
    ("role_upper", {"r": "role:READER"}, {}, {}),
    ("role_missing", {"r": "role:admin"}, {}, {}),
    ("role_no_roles_key", {"r": "role:reader"}, {}, {"roles": "__delete__"}),
    ("role_subst", {"r": "role:%(role.name)s"}, {}, {}),
    ("role_subst_missing", {"r": "role:%(nope)s"}, {}, {}),
    ("role_quoted", {"r": "role:'reader'"}, {}, {}),
    ("generic_user", {"r": "user_id:%(target.token.user_id)s"}, {}, {}),
    ("generic_user_other", {"r": "user_id:%(target.other)s"}, {}, {}),
    ("generic_missing_key", {"r": "user_id:%(target.missing)s"}, {}, {}),
    ("generic_literal", {"r": "project_id:p1"}, {}, {}),
    ("generic_literal_no", {"r": "project_id:p2"}, {}, {}),
    ("generic_missing_cred", {"r": "nokey:x"}, {}, {}),
    ("generic_nested", {"r": "nested.a.b:deep"}, {}, {}),
    ("generic_nested_missing", {"r": "nested.a.c:deep"}, {}, {}),
    ("generic_list_any", {"r": "tags:t2"}, {}, {}),
    ("generic_list_none", {"r": "tags:t3"}, {}, {}),
    ("generic_list_of_dicts", {"r": "nested.l.x:2"}, {}, {}),
    ("generic_int", {"r": "num:5"}, {}, {}),
    ("generic_bool_true", {"r": "flag:True"}, {}, {}),
    ("generic_bool_1", {"r": "flag:1"}, {}, {}),
    ("generic_none", {"r": "none:None"}, {}, {}),
    ("is_admin_bool_true", {"r": "is_admin:1"}, {}, {"is_admin": True}),
    ("is_admin_int_1", {"r": "is_admin:1"}, {}, {"is_admin": 1}),
    ("is_admin_str_1", {"r": "is_admin:1"}, {}, {"is_admin": "1"}),
    ("is_admin_True", {"r": "is_admin:True"}, {}, {"is_admin": True}),
    ("literal_left_sq", {"r": "'Member':%(role.name)s"}, {}, {}),
    ("literal_left_dq", {"r": "\"Member\":%(role.name)s"}, {}, {}),
    ("literal_left_no", {"r": "'Admin':%(role.name)s"}, {}, {}),
    ("literal_true", {"r": "True:%(user.enabled)s"}, {}, {}),
    ("literal_true_false", {"r": "True:%(user.enabled)s"}, {"user.enabled": False}, {}),
    ("literal_false", {"r": "False:%(user.enabled)s"}, {"user.enabled": False}, {}),
    ("literal_int", {"r": "5:%(num)s"}, {}, {}),
    ("literal_left_constant", {"r": "True:True"}, {}, {}),
    ("quoted_right_not_stripped", {"r": "project_id:'p1'"}, {}, {}),
    ("and_tt", {"r": "role:reader and project_id:p1"}, {}, {}),
    ("and_tf", {"r": "role:reader and project_id:p2"}, {}, {}),
    ("or_ft", {"r": "role:admin or project_id:p1"}, {}, {}),
    ("not_f", {"r": "not role:admin"}, {}, {}),
    ("prec_or_and", {"r": "role:reader or role:admin and project_id:p2"}, {}, {}),
    ("prec_and_or", {"r": "role:admin and project_id:p2 or role:reader"}, {}, {}),
    ("prec_paren", {"r": "(role:reader or role:admin) and project_id:p2"}, {}, {}),
    ("prec_not_and", {"r": "not role:admin and role:reader"}, {}, {}),
    ("prec_not_paren", {"r": "not (role:admin or role:reader)"}, {}, {}),
    ("rule_ref", {"r": "rule:x", "x": "role:reader"}, {}, {}),
    ("rule_ref_chain", {"r": "rule:x", "x": "rule:y", "y": "role:reader"}, {}, {}),
    ("rule_undefined", {"r": "rule:nope"}, {}, {}),
    ("rule_undefined_default", {"r": "rule:nope", "default": "role:reader"}, {}, {}),
    ("rule_undefined_default_false", {"r": "rule:nope", "default": "!"}, {}, {}),
    ("unknown_name_default", {"default": "role:reader"}, {}, {}),
    ("unknown_name_no_default", {"x": "@"}, {}, {}),
    ("malformed_unbalanced", {"r": "(role:reader"}, {}, {}),
    ("malformed_not_in_middle", {"r": "role:reader not role:admin"}, {}, {}),
    ("malformed_no_colon", {"r": "reader"}, {}, {}),
    ("malformed_partial_or", {"r": "reader or role:reader"}, {}, {}),
    ("malformed_dangling_and", {"r": "role:reader and"}, {}, {}),
    ("not_malformed_check", {"r": "not reader"}, {}, {}),
    ("http_check", {"r": "http://localhost/x"}, {}, {}),
    ("http_or", {"r": "http://localhost/x or role:reader"}, {}, {}),
    ("system_from_system_scope", {"r": "system:all"}, {}, {"system_scope": "all"}),
    ("system_scope_all", {"r": "role:reader and system_scope:all"}, {}, {"system_scope": "all"}),
    ("system_scope_none", {"r": "system_scope:all"}, {}, {}),
    ("list_syntax_or", {"r": [["role:admin"], ["role:reader"]]}, {}, {}),
    ("list_syntax_and", {"r": [["role:reader", "project_id:p2"]]}, {}, {}),
    ("list_syntax_empty", {"r": []}, {}, {}),
    ("list_syntax_empty_inner", {"r": [[]]}, {}, {}),
    ("list_syntax_str_inner", {"r": ["role:reader"]}, {}, {}),
    ("list_syntax_no_tokenize", {"r": [["role:reader or role:admin"]]}, {}, {}),
    ("subst_two", {"r": "user_id:%(target.token.user_id)s-%(target.other)s"}, {}, {"user_id": "u1-zzz"}),
    ("subst_percent_escape", {"r": "user_id:100%%"}, {}, {"user_id": "100%"}),
    ("subst_int", {"r": "num:%(num)s"}, {}, {}),
    ("cycle", {"r": "rule:a", "a": "rule:b", "b": "rule:a"}, {}, {}),
    ("invalid_and_keyword", {"r": "and"}, {}, {}),
    ("invalid_quoted", {"r": "'role:reader'"}, {}, {}),
    ("syntax_error_kind", {"r": "'abc:x"}, {}, {}),
    ("syntax_error_kind_missing_key", {"r": "'abc:%(missing)s"}, {}, {}),
    ("lookup_into_string", {"r": "user_id.x:1"}, {}, {}),
]


def run_eval(rules, target, creds):
    conf = cfg.ConfigOpts()
    conf([], project="golden")
    enf = policy.Enforcer(conf, use_conf=False)
    enf.set_rules(policy.Rules.from_dict(rules, "default"), use_conf=False)
    enf.default_rule = "default"
    try:
        res = enf.enforce("r", copy.deepcopy(target), copy.deepcopy(creds))
        return {"result": bool(res)}
    except RecursionError:
        return {"error": "RecursionError"}
    except Exception as e:  # noqa
        return {"error": type(e).__name__}


def merged(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v == "__delete__":
            out.pop(k, None)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- keystone
from keystone.common.policies import base as ks_base  # noqa
from keystone.common.policies import token as ks_token  # noqa

SUBJECT = "u-subject"
KS_TARGET = {"target.token.user_id": SUBJECT,
             "target.token.user.domain.id": "default"}


def persona(user_id, roles, system=None, domain=None, project=None,
            is_admin=False):
    return {"user_id": user_id, "roles": roles, "system_scope": system,
            "domain_id": domain, "project_id": project,
            "project_domain_id": "default" if project else None,
            "is_admin": is_admin}


PERSONAS = {
    "admin_project": persona("u-a", ["admin", "member", "reader"], project="p1"),
    "admin_upper": persona("u-a", ["Admin"], project="p1"),
    "admin_system": persona("u-a", ["admin", "member", "reader"], system="all"),
    "admin_domain": persona("u-a", ["admin"], domain="d1"),
    "service_project": persona("u-svc", ["service"], project="p-svc"),
    "reader_system": persona("u-r", ["reader"], system="all"),
    "member_system": persona("u-m", ["member", "reader"], system="all"),
    "reader_project": persona("u-r", ["reader"], project="p1"),
    "member_project": persona("u-m", ["member", "reader"], project="p1"),
    "reader_domain": persona("u-r", ["reader"], domain="d1"),
    "subject_project": persona(SUBJECT, ["member"], project="p1"),
    "subject_unscoped": persona(SUBJECT, []),
    "other_unscoped": persona("u-other", []),
    "is_admin_true": persona("u-x", [], project="p1", is_admin=True),
    "is_admin_1": persona("u-x", [], project="p1", is_admin=1),
}

KS_RULES = ["identity:validate_token", "identity:check_token",
            "identity:revoke_token", "identity:unknown_rule",
            "admin_required", "token_subject"]

# name -> {"file": policy.yaml content or None, "dir": {file: content}}
OVERRIDES = {
    "none": {"file": None},
    "yaml_validate_members": {"file": '"identity:validate_token": "role:member"\n'},
    "json_check_never": {"file": '{"identity:check_token": "!"}'},
    "yaml_admin_required_redefined": {"file": 'admin_required: "role:superuser"\n'},
    "yaml_default_rule": {"file": 'default: "role:reader"\n'},
    "yaml_empty_rule": {"file": '"identity:check_token": ""\n'},
    "yaml_null_rule": {"file": '"identity:check_token":\n'},
    "yaml_malformed_rule": {"file": '"identity:validate_token": "role:admin or"\n'},
    "yaml_list_syntax": {"file": '"identity:validate_token": [["role:member"], ["role:service"]]\n'},
    "policy_d_order": {
        "file": '"identity:validate_token": "role:nobody"\n"identity:check_token": "role:nobody"\n',
        "dir": {"20-b.json": '{"identity:validate_token": "role:reader"}',
                "10-a.yaml": '"identity:validate_token": "role:member"\n"identity:check_token": "role:service"\n',
                ".hidden.yaml": '"identity:check_token": "@"\n'}},
    "policy_d_only": {
        "file": None,
        "dir": {"x.yaml": '"identity:check_token": "role:service"\n'}},
}


def run_keystone(new_defaults, enforce_scope, override):
    d = tempfile.mkdtemp()
    try:
        conf = cfg.ConfigOpts()
        args = []
        conf([], project="golden")
        from oslo_policy import opts
        opts._register(conf)
        conf.set_override("enforce_new_defaults", new_defaults, "oslo_policy")
        conf.set_override("enforce_scope", enforce_scope, "oslo_policy")
        pf = os.path.join(d, "policy.yaml")
        if override.get("file") is not None:
            with open(pf, "w") as f:
                f.write(override["file"])
        conf.set_override("policy_file", pf, "oslo_policy")
        pd = os.path.join(d, "policy.d")
        if override.get("dir"):
            os.mkdir(pd)
            for name, content in override["dir"].items():
                with open(os.path.join(pd, name), "w") as f:
                    f.write(content)
        conf.set_override("policy_dirs", [pd], "oslo_policy")
        enf = policy.Enforcer(conf)
        enf.suppress_deprecation_warnings = True
        enf.register_defaults(ks_base.list_rules())
        enf.register_defaults(ks_token.list_rules())
        out = {}
        for pname, creds in PERSONAS.items():
            for rule in KS_RULES:
                try:
                    res = enf.enforce(rule, dict(KS_TARGET), dict(creds),
                                      do_raise=True)
                    r = bool(res)
                except policy.PolicyNotAuthorized:
                    r = False
                except policy.InvalidScope:
                    r = False
                out[pname + "|" + rule] = r
        return out
    finally:
        shutil.rmtree(d)


def main():
    parse = []
    for rule in PARSE:
        chk = _parser.parse_rule(rule)
        parse.append({"rule": rule, "str": str(chk),
                      "is_check": isinstance(chk, _checks.BaseCheck)})
    ev = []
    for name, rules, tover, cover in EVAL:
        target = merged(BASE_TARGET, tover)
        creds = merged(BASE_CREDS, cover)
        out = {"name": name, "rules": rules, "target": target, "creds": creds}
        out.update(run_eval(rules, target, creds))
        ev.append(out)
    # Random rules evaluated against fixed creds/target and helper rules.
    evr = []
    ev_vocab = ["role:r", "role:R", "role:z", "a:1", "a:2", "b:%(x)s",
                "b:%(missing)s", "l:v2", "rule:q", "rule:undefined", "and",
                "or", "not", "(", ")", "@", "!", "noColon"]
    ev_creds = {"roles": ["r"], "a": 1, "b": "xv", "l": ["v1", "v2"]}
    ev_target = {"x": "xv", "one": 1}
    import random
    rnd = random.Random(11)
    atoms = ["role:r", "role:R", "role:z", "a:1", "a:2", "b:%(x)s",
             "b:%(missing)s", "l:v2", "l:v3", "rule:q", "rule:undefined",
             "@", "!", "noColon", "'1':%(one)s"]

    def gen(depth):
        r = rnd.random()
        if depth > 3 or r < 0.35:
            return rnd.choice(atoms)
        if r < 0.5:
            return "not " + gen(depth + 1)
        if r < 0.65:
            return "(" + gen(depth + 1) + ")"
        op = rnd.choice(["and", "or", "AND", "or"])
        return gen(depth + 1) + " " + op + " " + gen(depth + 1)

    wellformed = [gen(0) for _ in range(800)]
    for rule in random_rules(400, seed=7, vocab=ev_vocab) + wellformed:
        res = run_eval({"r": rule, "q": "a:1 and not role:z"}, ev_target, ev_creds)
        res["rule"] = rule
        evr.append(res)
    ks = []
    for ovname, ov in OVERRIDES.items():
        for nd in (False, True):
            for es in (False, True):
                ks.append({"override": ovname, "policy_file": ov.get("file"),
                           "policy_dir": ov.get("dir", {}),
                           "enforce_new_defaults": nd, "enforce_scope": es,
                           "outcomes": run_keystone(nd, es, ov)})
    json.dump({
        "generator": "pkg/policy/testdata/gen_golden.py",
        "oslo_policy_file": oslo_policy.__file__,
        "python": sys.version.split()[0],
        "target": KS_TARGET, "personas": PERSONAS,
        "parse": parse, "eval": ev, "keystone": ks,
        "eval_random": {"creds": ev_creds, "target": ev_target,
                        "rules": {"q": "a:1 and not role:z"}, "cases": evr},
    }, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
