package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	apidoc "github.com/keystone-ng/keystone-ng/docs/api"
	"github.com/keystone-ng/keystone-ng/pkg/apierror"
	"github.com/labstack/echo/v4"
)

// openAPIDocPath is where the /v4 API describes itself (docs/api/openapi.yaml,
// as JSON).
const openAPIDocPath = "/v4/openapi.json"

// openAPICacheControl lets clients and proxies keep the document for a
// while: it changes only with the binary, and the ETag revalidates it.
const openAPICacheControl = "public, max-age=300"

// registerOpenAPIRoute serves the OpenAPI document, unauthenticated. The
// JSON is converted from the embedded YAML once, here, not per request.
func (s *Server) registerOpenAPIRoute(e *echo.Echo) {
	body, err := apidoc.JSON()
	if err != nil {
		// Cannot happen with a tested document; answered as a 500 with the
		// cause logged rather than refusing to start over documentation.
		e.GET(openAPIDocPath, func(echo.Context) error { return apierror.Internal(err) })
		return
	}
	etag := openAPIETag(body)
	e.GET(openAPIDocPath, func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", openAPICacheControl)
		h.Set("ETag", etag)
		if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, "application/json", body)
	})
}

// openAPIETag is a strong validator of the document's bytes.
func openAPIETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2):
// "*" or any listed tag equal to etag, with or without a W/ prefix.
func etagMatches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
