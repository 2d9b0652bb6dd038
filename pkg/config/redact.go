package config

import (
	"strconv"
	"strings"
	"time"
)

// Mask replaces secret values in Redacted output.
const Mask = "***"

// Redacted returns the effective settings as section -> option -> text, for
// `keystone-ng check` and debug logs. Secrets never appear: admin_token and
// every string option whose name contains "password", "secret" or "token" are
// "***" when set, and the [database] connection URL keeps everything but its
// password (and any password/secret/token query parameter). Unset options
// (Python's None) are "". Lists are comma-separated.
func (c *Config) Redacted() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range schema {
		if out[o.section] == nil {
			out[o.section] = map[string]string{}
		}
		out[o.section][o.name] = o.display(c)
	}
	return out
}

func (o *option) display(c *Config) string {
	var s string
	switch p := o.field(c).(type) {
	case *string:
		s = *p
	case *bool:
		s = strconv.FormatBool(*p)
	case *int:
		if o.none && *p == 0 {
			return ""
		}
		s = strconv.Itoa(*p)
	case *int64:
		s = strconv.FormatInt(*p, 10)
	case *[]string:
		s = strings.Join(*p, ",")
	case *time.Duration:
		s = p.String()
	}
	if s == "" {
		return ""
	}
	if o.section == "database" && o.name == "connection" || o.name == "transport_url" {
		return RedactURL(s)
	}
	if o.isSecret() {
		return Mask
	}
	return s
}

// RedactURL hides the password of a SQLAlchemy/RFC 3986 URL
// (scheme://user:password@host/...) and the values of query parameters whose
// names contain "password", "secret" or "token". It works on the text rather
// than net/url because SQLAlchemy accepts passwords net/url rejects; the
// userinfo ends at the last '@', as SQLAlchemy's URL pattern is greedy. If
// the text is not a URL it is returned fully masked.
func RedactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Mask
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			rest = user + ":" + Mask + rest[at:]
		}
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		params := strings.Split(query, "&")
		for i, kv := range params {
			k, _, hasVal := strings.Cut(kv, "=")
			if hasVal && nameLooksSecret(k) {
				params[i] = k + "=" + Mask
			}
		}
		rest = base + "?" + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}
