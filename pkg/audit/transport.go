package audit

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Broker is one host of an oslo.messaging transport URL.
type Broker struct {
	Host     string // host:port
	User     string
	Password string
}

// Transport is a parsed rabbit:// transport URL
// (oslo_messaging.TransportURL.parse): one or more brokers tried in
// order, the virtual host and the TLS switch of the query.
type Transport struct {
	Brokers     []Broker
	VirtualHost string
	// SSL is the URL's ?ssl=1 (oslo.messaging merges it with
	// [oslo_messaging_rabbit] ssl).
	SSL bool
}

// ParseTransportURL reads rabbit://user:pass@host:port[,user:pass@host:port]/vhost?ssl=1.
// An empty path is RabbitMQ's default virtual host "/" (kombu's default).
// Errors never contain the password.
func ParseTransportURL(raw string) (Transport, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Transport{}, errors.New("transport URL: not a URL (expected rabbit://user:password@host:5672/)")
	}
	if s := strings.ToLower(scheme); s != "rabbit" && s != "kombu" {
		return Transport{}, fmt.Errorf("transport URL: scheme %q: only rabbit:// is supported", scheme)
	}
	var t Transport
	hosts, pathQuery := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts, pathQuery = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(pathQuery, "?")
	vhost, err := url.PathUnescape(strings.TrimPrefix(path, "/"))
	if err != nil {
		return Transport{}, errors.New("transport URL: bad virtual host")
	}
	if vhost == "" {
		vhost = "/"
	}
	t.VirtualHost = vhost
	q, err := url.ParseQuery(query)
	if err != nil {
		return Transport{}, errors.New("transport URL: bad query")
	}
	if v := strings.ToLower(q.Get("ssl")); v == "1" || v == "true" || v == "yes" || v == "on" {
		t.SSL = true
	}
	for _, h := range strings.Split(hosts, ",") {
		var b Broker
		hostport := h
		if at := strings.LastIndex(h, "@"); at >= 0 {
			userinfo := h[:at]
			hostport = h[at+1:]
			u, p, _ := strings.Cut(userinfo, ":")
			if b.User, err = url.PathUnescape(u); err != nil {
				return Transport{}, errors.New("transport URL: bad user name")
			}
			if b.Password, err = url.PathUnescape(p); err != nil {
				return Transport{}, errors.New("transport URL: bad password encoding")
			}
		}
		if hostport == "" {
			return Transport{}, errors.New("transport URL: a broker has no host")
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "5672")
		}
		b.Host = hostport
		t.Brokers = append(t.Brokers, b)
	}
	return t, nil
}
