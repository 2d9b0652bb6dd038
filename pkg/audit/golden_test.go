package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// rawMessage is one line of testdata/python-*.raw.jsonl.
type rawMessage struct {
	Body            string `json:"body"`
	ContentType     string `json:"content_type"`
	ContentEncoding string `json:"content_encoding"`
	DeliveryMode    int    `json:"delivery_mode"`
	Exchange        string `json:"exchange"`
	RoutingKey      string `json:"routing_key"`
}

func readRaw(t *testing.T, path string) []rawMessage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m rawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func decodeOrdered(t *testing.T, s string) any {
	t.Helper()
	v, err := pyjson.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// volatile are the values Python draws at random or from the clock: they
// are compared by form only.
var volatile = map[string]*regexp.Regexp{
	"message_id":        regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
	"_unique_id":        regexp.MustCompile(`^[0-9a-f]{32}$`),
	"timestamp":         regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$`),
	"payload.id":        regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
	"payload.eventTime": regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000$`),
	// the target of identity.authenticate is a fresh CADF resource
	"payload.target.id": regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9a-f]{32}$`),
}

// compare walks Python's value p and keystone-ng's g: same keys in the
// same order, same types, same values except the volatile ones.
func compare(t *testing.T, path string, p, g any) {
	t.Helper()
	switch pv := p.(type) {
	case pyjson.Object:
		gv, ok := g.(pyjson.Object)
		if !ok {
			t.Errorf("%s: Python has an object, keystone-ng %T", path, g)
			return
		}
		var pk, gk []string
		for _, m := range pv {
			pk = append(pk, m.Key)
		}
		for _, m := range gv {
			gk = append(gk, m.Key)
		}
		if !reflect.DeepEqual(pk, gk) {
			t.Errorf("%s: keys %q, Python's %q", path, gk, pk)
			return
		}
		for i, m := range pv {
			compare(t, strings.TrimPrefix(path+"."+m.Key, "."), m.Value, gv[i].Value)
		}
	default:
		if re, ok := volatile[path]; ok {
			ps, _ := p.(string)
			gs, _ := g.(string)
			if !re.MatchString(ps) || !re.MatchString(gs) {
				t.Errorf("%s: %q / Python's %q do not both match %s", path, gs, ps, re)
			}
			return
		}
		if !reflect.DeepEqual(p, g) {
			t.Errorf("%s: %#v, Python's %#v", path, g, p)
		}
	}
}

// pythonInputs reads what keystone-ng needs to build the same event:
// initiator, observer, outcome, resource.
func pythonInputs(t *testing.T, msg pyjson.Object) (Initiator, Observer, string, time.Time) {
	t.Helper()
	s := func(o pyjson.Object, k string) string {
		v, _ := o.Get(k)
		str, _ := v.(string)
		return str
	}
	pv, _ := msg.Get("payload")
	p, _ := pv.(pyjson.Object)
	iv, _ := p.Get("initiator")
	io, _ := iv.(pyjson.Object)
	hv, _ := io.Get("host")
	ho, _ := hv.(pyjson.Object)
	ov, _ := p.Get("observer")
	oo, _ := ov.(pyjson.Object)
	in := Initiator{UserID: s(io, "user_id"), Username: s(io, "username"), ProjectID: s(io, "project_id"),
		DomainID: s(io, "domain_id"), Address: s(ho, "address"), Agent: s(ho, "agent"), RequestID: s(io, "request_id")}
	if in.RequestID == "" {
		in.RequestID = s(p, "request_id")
	}
	return in, Observer{ServiceID: s(oo, "id")}, s(p, "outcome"), time.Now()
}

// TestPythonGolden builds, for each event Python Keystone published
// (testdata/README.md), keystone-ng's event from the same inputs, wraps
// it as keystone-ng sends it, and compares both AMQP messages field by
// field.
func TestPythonGolden(t *testing.T) {
	for _, tc := range []struct{ file, format string }{
		{"testdata/python-cadf.raw.jsonl", "cadf"},
		{"testdata/python-basic.raw.jsonl", "basic"},
	} {
		raws := readRaw(t, tc.file)
		if len(raws) < 3 {
			t.Fatalf("%s: %d messages, want at least 3", tc.file, len(raws))
		}
		for _, r := range raws {
			// The AMQP properties oslo.messaging (kombu) sets.
			if r.ContentType != "application/json" || r.ContentEncoding != "utf-8" || r.DeliveryMode != 2 ||
				r.Exchange != "keystone" || r.RoutingKey != RoutingKey("notifications") {
				t.Errorf("%s: Python's AMQP properties %+v differ from what AMQPPublisher sends", tc.file, r)
			}
			penv := decodeOrdered(t, r.Body).(pyjson.Object)
			pm, _ := penv.Get("oslo.message")
			pmsg := decodeOrdered(t, pm.(string)).(pyjson.Object)
			et, _ := pmsg.Get("event_type")
			eventType := et.(string)
			in, ob, outcome, now := pythonInputs(t, pmsg)
			var n Notification
			if eventType == EventAuthenticate {
				n = Authenticate(outcome, in, ob, nil, now)
			} else {
				parts := strings.Split(eventType, ".")
				pv, _ := pmsg.Get("payload")
				ri, _ := pv.(pyjson.Object).Get("resource_info")
				if _, has := pv.(pyjson.Object).Get("request_id"); !has && tc.format == "basic" {
					in.RequestID = "" // Python's delete passes no initiator
				}
				n = ResourceEvent(tc.format, parts[2], parts[1], ri.(string), in, ob, now)
			}
			pub, _ := pmsg.Get("publisher_id")
			m := NewMessage(n, pub.(string), now)
			genv := decodeOrdered(t, string(Envelope(m.JSON(), "notifications"))).(pyjson.Object)
			gm, _ := genv.Get("oslo.message")
			gmsg := decodeOrdered(t, gm.(string)).(pyjson.Object)
			t.Run(tc.format+"/"+eventType, func(t *testing.T) {
				if len(genv) != len(penv) || genv[0].Key != penv[0].Key || genv[0].Value != "2.0" {
					t.Errorf("envelope %v, Python's %v", genv, penv)
				}
				compare(t, "", pmsg, gmsg)
			})
		}
	}
}
