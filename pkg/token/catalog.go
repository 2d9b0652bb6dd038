package token

import (
	"strings"

	"github.com/keystone-ng/keystone-ng/pkg/keystone"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// renderCatalog is keystone/catalog/backends/sql.py get_v3_catalog: every
// enabled service with its enabled endpoints, URLs substituted, filtered by
// the project's endpoint associations when it has any.
func (v *Validator) renderCatalog(t *Token) []pyjson.Value {
	projectID := t.Payload.ProjectID
	if t.Trust != nil {
		projectID = t.Trust.ProjectID
	}
	subs := map[string]string{"user_id": t.CatalogUserID}
	if v.Settings.PublicEndpoint != "" {
		subs["public_endpoint"] = v.Settings.PublicEndpoint
	} else {
		subs["public_endpoint"] = "None" // str(None), as Python's % does
	}
	silent := map[string]bool{}
	if projectID != "" {
		subs["tenant_id"], subs["project_id"] = projectID, projectID
	} else {
		silent["tenant_id"], silent["project_id"] = true, true
	}

	var filter map[string]bool
	if projectID != "" && t.ProjectEndpoints != nil {
		filter = endpointFilter(t.Catalog, t.ProjectEndpoints)
	}
	if projectID != "" && len(filter) == 0 && !v.Settings.ReturnAllEndpointsIfNoFilter {
		return []pyjson.Value{}
	}
	out := make([]pyjson.Value, 0, len(t.Catalog))
	for _, s := range t.Catalog {
		eps := make([]pyjson.Value, 0, len(s.Endpoints))
		for _, e := range s.Endpoints {
			if !e.Enabled {
				continue
			}
			if len(filter) > 0 && !filter[e.ID] {
				continue
			}
			url, ok := formatURL(e.URL, subs, silent)
			if !ok || url == "" {
				continue
			}
			ep := make(pyjson.Object, 0, len(e.Extra)+5)
			ep = append(ep, e.Extra...)
			var region pyjson.Value
			if e.RegionID != nil {
				region = *e.RegionID
			}
			ep.Set("id", e.ID)
			ep.Set("interface", e.Interface)
			ep.Set("region_id", region)
			ep.Set("url", url)
			ep.Set("region", region)
			eps = append(eps, ep)
		}
		if len(filter) > 0 && len(eps) == 0 {
			continue
		}
		name, ok := s.Extra.Get("name")
		if !ok || name == nil {
			name = ""
		}
		out = append(out, pyjson.Object{
			{Key: "endpoints", Value: eps},
			{Key: "id", Value: s.ID},
			{Key: "type", Value: s.Type},
			{Key: "name", Value: name},
		})
	}
	return out
}

// endpointFilter is catalog_api.list_endpoints_for_project: directly
// associated endpoints plus those matching any associated endpoint group.
func endpointFilter(services []keystone.Service, pe *keystone.ProjectEndpoints) map[string]bool {
	if len(pe.EndpointIDs) == 0 && len(pe.Groups) == 0 {
		return nil
	}
	known := map[string]*keystone.Endpoint{}
	for i := range services {
		for j := range services[i].Endpoints {
			e := &services[i].Endpoints[j]
			known[e.ID] = e
		}
	}
	out := map[string]bool{}
	for _, id := range pe.EndpointIDs {
		if known[id] != nil {
			out[id] = true
		}
	}
	for _, g := range pe.Groups {
		for id, e := range known {
			if endpointMatches(e, g.Filters) {
				out[id] = true
			}
		}
	}
	return out
}

func endpointMatches(e *keystone.Endpoint, filters pyjson.Object) bool {
	for _, f := range filters {
		want, _ := f.Value.(string)
		switch f.Key {
		case "service_id":
			if e.ServiceID != want {
				return false
			}
		case "interface":
			if e.Interface != want {
				return false
			}
		case "region_id":
			if e.RegionID == nil || *e.RegionID != want {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// formatURL is keystone.common.utils.format_url: "$(" becomes "%(" and
// Python's %-formatting with a whitelisted mapping follows. It returns
// ok=false for a malformed URL (the endpoint is dropped) and ("", true)
// for a silently skipped one.
func formatURL(url string, subs map[string]string, silent map[string]bool) (string, bool) {
	s := strings.ReplaceAll(url, "$(", "%(")
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", false // incomplete format
		}
		if s[i+1] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		if s[i+1] != '(' {
			return "", false // a positional conversion against a mapping
		}
		end := strings.IndexByte(s[i+2:], ')')
		if end < 0 {
			return "", false
		}
		key := s[i+2 : i+2+end]
		j := i + 2 + end + 1
		if j >= len(s) || s[j] != 's' {
			return "", false
		}
		val, ok := subs[key]
		if !ok {
			if silent[key] {
				return "", true
			}
			return "", false
		}
		b.WriteString(val)
		i = j
	}
	return b.String(), true
}
