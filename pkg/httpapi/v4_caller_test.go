package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/payload"
	"github.com/keystone-ng/keystone-ng/pkg/token"
	"github.com/labstack/echo/v4"
)

// countingWorkloads is a federation feature that only answers the
// workload-token lookup, and counts it.
type countingWorkloads struct {
	FederationService
	lookups  int
	workload bool
}

func (w *countingWorkloads) RecordWorkloadToken(context.Context, string, string, time.Time) error {
	return nil
}

func (w *countingWorkloads) IsWorkloadToken(context.Context, []string) (bool, error) {
	w.lookups++
	return w.workload, nil
}

// TestCallerViewOncePerRequest: the policy view of the caller (and its
// workload lookup in the database) is built once per request, however
// many handlers ask for it; a federated token minted by a workload login
// is marked.
func TestCallerViewOncePerRequest(t *testing.T) {
	w := &countingWorkloads{workload: true}
	s := &Server{V4: &V4{Federation: w}}
	c := echo.New().NewContext(httptest.NewRequest("GET", "/v4/x", nil), httptest.NewRecorder())
	c.Set(callerKey, &token.Token{IssuedAt: time.Now(), Payload: &payload.Payload{UserID: "u", Federated: true,
		IdentityProviderID: "idp", AuditIDs: []string{"a"}}})
	for i := 0; i < 3; i++ {
		_, cl, err := s.Caller(c)
		if err != nil {
			t.Fatal(err)
		}
		if !cl.Workload || cl.IdentityProviderID != "idp" {
			t.Fatalf("caller view %+v", cl)
		}
	}
	if w.lookups != 1 {
		t.Fatalf("workload lookups: %d, want 1", w.lookups)
	}
}
