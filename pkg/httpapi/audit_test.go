package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/audit"
	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
	"github.com/labstack/echo/v4"
)

// /readyz stays 200 with a degraded audit bus and says so
// (docs/audit.md §5); without warnings its body is unchanged.
func TestReadyzWarnings(t *testing.T) {
	for _, tc := range []struct {
		warnings []string
		want     string
	}{
		{nil, `{"status": "ready"}`},
		{[]string{"audit: message bus unreachable for 6m0s, 12 events waiting in the outbox"},
			`{"status": "ready", "warnings": ["audit: message bus unreachable for 6m0s, 12 events waiting in the outbox"]}`},
	} {
		s := &httpapi.Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(context.Context) error { return nil }, Warnings: func() []string { return tc.warnings }}
		rec := httptest.NewRecorder()
		s.Echo().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != tc.want {
			t.Errorf("readyz: %d %s, want 200 %s", rec.Code, rec.Body, tc.want)
		}
	}
}

// Every /v4 request carries its audit initiator: the client, its user
// agent and the request id returned in X-Openstack-Request-Id. Validation
// (the hot path, which causes no event) does not pay for it.
func TestAuditInitiatorOfRequest(t *testing.T) {
	s := &httpapi.Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := s.Echo()
	var got audit.Initiator
	probe := func(c echo.Context) error {
		got = audit.FromContext(c.Request().Context())
		return c.NoContent(http.StatusNoContent)
	}
	e.GET("/v4/probe", probe)
	e.GET("/v3/probe", probe)
	req := httptest.NewRequest("GET", "/v4/probe", nil)
	req.RemoteAddr = "192.0.2.9:4242"
	req.Header.Set("User-Agent", "python-keystoneclient")
	req.Header.Set("X-Forwarded-For", "198.51.100.1") // not from a trusted proxy: ignored
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if got.Address != "192.0.2.9" || got.Agent != "python-keystoneclient" || got.RequestID != rec.Header().Get("X-Openstack-Request-Id") || got.RequestID == "" {
		t.Errorf("initiator %+v (request id %q)", got, rec.Header().Get("X-Openstack-Request-Id"))
	}
	got = audit.Initiator{RequestID: "unset"}
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v3/probe", nil))
	if got != (audit.Initiator{}) {
		t.Errorf("a /v3 request's initiator %+v, want none", got)
	}
}
