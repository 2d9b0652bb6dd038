package httpapi

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/passkey/passkeytest"
)

type change struct {
	op, kind, id string
	in           audit.Initiator
}

type changeRecorder struct {
	mu  sync.Mutex
	got []change
}

func (r *changeRecorder) Changed(ctx context.Context, op, kind, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, change{op, kind, id, audit.FromContext(ctx)})
}

// A passkey registered, renamed and deleted through the API produces its
// created, updated and deleted events, by the caller; a refused request
// produces none (docs/audit.md §2).
func TestPasskeyChangesAudited(t *testing.T) {
	rec := &changeRecorder{}
	srv, _, _ := passkeyServerWith(t, rec)
	base := "/v4/users/" + alice + "/passkeys"
	key := passkeytest.New("https://cloud.example.com")
	_, m := call(t, srv, "POST", base+"/register/start", "alice-token", `{"name": "laptop"}`)
	opts, _ := json.Marshal(m["options"])
	cred, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"ceremony_id": m["ceremony_id"], "credential": json.RawMessage(cred)})
	resp, m := call(t, srv, "POST", base+"/register/finish", "alice-token", string(body))
	if resp.StatusCode != 201 {
		t.Fatalf("finish: %d %v", resp.StatusCode, m)
	}
	id := m["passkey"].(map[string]any)["id"].(string)
	if resp, _ := call(t, srv, "DELETE", base+"/"+id, "bob-token", ""); resp.StatusCode != 403 {
		t.Fatalf("bob deletes: %d", resp.StatusCode)
	}
	call(t, srv, "PATCH", base+"/"+id, "alice-token", `{"passkey": {"name": "phone"}}`)
	call(t, srv, "DELETE", base+"/"+id, "alice-token", "")
	want := []struct{ op string }{{audit.Created}, {audit.Updated}, {audit.Deleted}}
	if len(rec.got) != len(want) {
		t.Fatalf("events %+v, want %d", rec.got, len(want))
	}
	for i, w := range want {
		g := rec.got[i]
		if g.op != w.op || g.kind != audit.ResourcePasskey || g.id != id || g.in.UserID != alice || g.in.Username != "alice" || g.in.RequestID == "" {
			t.Errorf("event %d: %+v", i, g)
		}
	}
}
