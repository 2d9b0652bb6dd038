package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	defaultPolicyFile    = "policy.yaml"
	defaultOldPolicyFile = "policy.json"
	defaultPolicyDir     = "policy.d"
)

// fileStamp identifies one version of a policy file.
type fileStamp struct {
	path  string
	mtime time.Time
	size  int64
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{path: path, mtime: fi.ModTime(), size: fi.Size()}, nil
}

// findFile resolves name like oslo.config's CONF.find_file: an absolute
// path is used if it exists; a relative one is joined to each search
// directory in order and the first that exists wins (the current
// directory when no search directories are given). "" means not found.
func (e *Enforcer) findFile(name string) string {
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err == nil {
			return name
		}
		return ""
	}
	dirs := e.opts.SearchDirs
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
			return p
		}
	}
	return ""
}

// policyFiles lists the files to apply, in order: the policy file, then
// each policy directory's regular files (no dot files, no recursion) in
// sorted order.
func (e *Enforcer) policyFiles() ([]string, error) {
	var files []string
	name := e.opts.PolicyFile
	if name == "" {
		// oslo pick_default_policy_file: the built-in default policy.yaml
		// falls back to policy.json when only that exists.
		name = defaultPolicyFile
		if e.findFile(name) == "" && e.findFile(defaultOldPolicyFile) != "" {
			name = defaultOldPolicyFile
		}
	}
	if p := e.findFile(name); p != "" {
		files = append(files, p)
	}
	dirs := e.opts.PolicyDirs
	if dirs == nil {
		dirs = []string{defaultPolicyDir}
	}
	for _, d := range dirs {
		p := e.findFile(d)
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("policy: %s is not a directory", p)
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		var names []string
		for _, ent := range entries {
			if strings.HasPrefix(ent.Name(), ".") {
				continue
			}
			if ent.IsDir() {
				continue
			}
			if ent.Type()&fs.ModeSymlink != 0 {
				if fi, err := os.Stat(filepath.Join(p, ent.Name())); err != nil || fi.IsDir() {
					continue
				}
			}
			names = append(names, ent.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, filepath.Join(p, n))
		}
	}
	return files, nil
}

// readPolicyFile reads and parses one policy file (JSON first, then YAML,
// as oslo's parse_file_contents does).
func readPolicyFile(path string) (fileStamp, map[string]any, error) {
	st, err := statFile(path)
	if err != nil {
		return st, nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return st, nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	rules, err := parseFileContents(data)
	if err != nil {
		return st, nil, fmt.Errorf("policy file %s: %w", path, err)
	}
	return st, rules, nil
}

func parseFileContents(data []byte) (map[string]any, error) {
	var parsed any
	if err := json.Unmarshal(data, &parsed); err == nil {
		return toRuleMap(parsed)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return map[string]any{}, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return map[string]any{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("policy file is not a mapping of rule names to rules")
	}
	out := make(map[string]any, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var val any
		if err := v.Decode(&val); err != nil {
			return nil, err
		}
		// Duplicate keys: last wins, as with PyYAML.
		out[k.Value] = normalizeYAML(val)
	}
	return out, nil
}

func toRuleMap(parsed any) (map[string]any, error) {
	switch m := parsed.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	}
	if !pyTruthy(parsed) {
		return map[string]any{}, nil // `parsed or {}`
	}
	return nil, errors.New("policy file is not a mapping of rule names to rules")
}

// normalizeYAML turns yaml.v3 sequences into []any (already) and maps
// with non-string keys into map[string]any.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case []any:
		for i := range x {
			x[i] = normalizeYAML(x[i])
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, vv := range x {
			m[fmt.Sprint(k)] = normalizeYAML(vv)
		}
		return m
	}
	return v
}
