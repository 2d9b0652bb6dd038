package httpapi_test

import (
	"bytes"
	"context"
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
	// Python's own answer to an unexpected error, word for word.
	if want := `{"error":{"code":500,"message":"An unexpected error prevented the server from fulfilling your request.","title":"Internal Server Error"}}` + "\n"; string(body) != want {
		t.Fatalf("body %s\nwant %s", body, want)
	}
	got := logs.String()
	for _, want := range []string{"secret-panic-value", "goroutine", "recover_test.go"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
}
