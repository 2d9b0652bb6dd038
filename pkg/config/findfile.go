package config

import (
	"os"
	"path/filepath"
)

// homeDir is what Python's os.path.expanduser("~") uses: $HOME, else the
// user database. "" if unknown.
func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

// searchDirs builds the list oslo.config's ConfigOpts.find_file searches:
// every --config-dir in order, then the directory of every --config-file
// with the last file first, then _get_config_dirs("keystone"): ~/.keystone,
// ~, /etc/keystone, /etc. Duplicates are dropped (the first occurrence
// decides, so the lookup result is unchanged).
func searchDirs(files, dirs []string, home string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d == "" || seen[d] {
			return
		}
		seen[d] = true
		out = append(out, d)
	}
	for _, d := range dirs {
		add(d)
	}
	for i := len(files) - 1; i >= 0; i-- {
		add(filepath.Dir(files[i]))
	}
	if home != "" {
		add(filepath.Join(home, ".keystone"))
		add(home)
	}
	add("/etc/keystone")
	add("/etc")
	return out
}

// FindFile locates a file such as [oslo_policy] policy_file the way
// oslo.config's ConfigOpts.find_file does: the first of SearchDirs holding
// name (file or directory) wins. An absolute name is returned if it exists,
// as os.path.join would make it. It returns false if nothing is found.
func (c *Config) FindFile(name string) (string, bool) {
	if name == "" {
		return "", false
	}
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err == nil {
			return name, true
		}
		return "", false
	}
	for _, d := range c.SearchDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}
