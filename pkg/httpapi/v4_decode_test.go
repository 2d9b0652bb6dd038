package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/labstack/echo/v4"
)

// Every /v4 body goes through DecodeJSON / DecodeOptionalJSON: bad input
// must come back as a Keystone error with the right status.
func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	for _, tc := range []struct {
		name     string
		ct, in   string
		optional bool
		limit    int64
		want     int // 0 = accepted
		wantName string
	}{
		{name: "good", ct: "application/json", in: `{"name":"a"}`, wantName: "a"},
		{name: "json with charset", ct: "application/json; charset=utf-8", in: `{"name":"a"}`, wantName: "a"},
		{name: "empty required", ct: "application/json", in: "", want: 400},
		{name: "empty optional", in: "", optional: true},
		{name: "blank optional", ct: "application/json", in: " \n", optional: true},
		{name: "syntax error", ct: "application/json", in: `{"name":`, want: 400},
		{name: "wrong type", ct: "application/json", in: `{"name":1}`, want: 400},
		{name: "unknown field", ct: "application/json", in: `{"nam":"a"}`, want: 400},
		{name: "trailing data", ct: "application/json", in: `{"name":"a"} {}`, want: 400},
		{name: "not json content type", ct: "text/plain", in: `{"name":"a"}`, want: 415},
		{name: "oversized", ct: "application/json", in: `{"name":"` + strings.Repeat("x", 100) + `"}`, limit: 32, want: 413},
		{name: "oversized optional", ct: "application/json", in: `{"name":"` + strings.Repeat("x", 100) + `"}`, limit: 32, optional: true, want: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.in))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			rec := httptest.NewRecorder()
			if tc.limit > 0 {
				req.Body = http.MaxBytesReader(rec, req.Body, tc.limit)
			}
			c := echo.New().NewContext(req, rec)
			var b body
			var err error
			if tc.optional {
				err = DecodeOptionalJSON(c, &b)
			} else {
				err = DecodeJSON(c, &b)
			}
			if tc.want == 0 {
				if err != nil || b.Name != tc.wantName {
					t.Fatalf("got %+v, %v", b, err)
				}
				return
			}
			ae := apierror.As(err)
			if ae.Code != tc.want || ae.Message == "" || strings.Contains(ae.Message, tc.in) && tc.in != "" {
				t.Fatalf("got %d %q, want %d (message must not echo the body)", ae.Code, ae.Message, tc.want)
			}
		})
	}
}
