// Package loginpage holds keystone-ng's browser login page (/v4/login):
// plain HTML, one script and one style sheet, no framework and nothing
// inline, so it runs under a strict Content-Security-Policy. It is shared
// by the passkey and federation features.
package loginpage

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
)

//go:embed index.html static
var files embed.FS

// Static is the asset tree served under /v4/login/static/.
var Static = func() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	return sub
}()

var index = template.Must(template.ParseFS(files, "index.html"))

// Render returns the page; trustedDashboards is the list the page may
// hand a token to (checked again by the page against ?origin=).
func Render(trustedDashboards []string) ([]byte, error) {
	if trustedDashboards == nil {
		trustedDashboards = []string{}
	}
	td, err := json.Marshal(trustedDashboards)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := index.Execute(&b, map[string]any{"TrustedDashboards": string(td)}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
