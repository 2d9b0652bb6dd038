package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/httpapi"
)

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A panic in a handler is a 500 in Keystone's error shape with nothing of
// the panic in it; the log gets the panic value and the stack, so that it
// can be traced.
func TestPanicIsLoggedWithItsStack(t *testing.T) {
	var logs lockedBuffer
	s := &httpapi.Server{
		Log:   slog.New(slog.NewJSONHandler(&logs, nil)),
		Ready: func(context.Context) error { panic("secret-panic-value") },
	}
	srv := httptest.NewServer(s.Echo())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", resp.StatusCode, body)
	}
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Title   string `json:"title"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != 500 || e.Error.Title != "Internal Server Error" {
		t.Fatalf("body is not Keystone's 500: %s (%v)", body, err)
	}
	if strings.Contains(string(body), "secret-panic-value") || strings.Contains(string(body), "goroutine") {
		t.Fatalf("the panic leaked to the client: %s", body)
	}
	got := logs.String()
	for _, want := range []string{"secret-panic-value", "goroutine", "recover_test.go"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
