package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/viper"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "KEYSTONE_NG_"

// LoadOptions says what to load.
type LoadOptions struct {
	// Files are the --config-file paths, in command-line order; later files
	// override earlier ones. "~" is expanded.
	Files []string
	// Dirs are the --config-dir paths. Every *.conf file in each (sorted by
	// name, hidden files excluded, as Python's glob) is applied after Files,
	// as oslo.config does when --config-dir follows the --config-file options.
	Dirs []string
	// Environ is the environment in os.Environ() form; only KEYSTONE_NG_*
	// variables are used. nil means no environment overrides.
	Environ []string
}

// Problems lists every problem found, one per line in Error.
type Problems struct{ List []string }

func (p *Problems) Error() string { return strings.Join(p.List, "\n") }

func (p *Problems) add(format string, args ...any) {
	p.List = append(p.List, fmt.Sprintf(format, args...))
}

// errOrNil returns p as an error, or nil if there are no problems (never a
// typed nil inside a non-nil error).
func (p *Problems) errOrNil() error {
	if p == nil || len(p.List) == 0 {
		return nil
	}
	return p
}

// Load reads the config files and directories, applies the environment
// overrides and validates the result.
//
// The returned error is nil or a *Problems listing every problem found:
// missing files and directories, malformed lines, unknown keys in
// keystone-ng's own sections, unknown KEYSTONE_NG_* variables for them,
// values that do not convert, failed $substitutions, and everything Validate
// reports. The returned *Config is never nil: it holds the best effort
// (defaults where a value was bad), useful for `keystone-ng check`, but must
// not be used to serve when the error is non-nil.
func Load(opts LoadOptions) (*Config, error) {
	probs := &Problems{}
	home := homeDir()
	c := Defaults()

	// 1. Read files in the order oslo applies them.
	var parsed []*iniFile
	read := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				probs.add("%s: config file not found", path)
			case errors.Is(err, fs.ErrPermission):
				probs.add("%s: permission denied reading config file", path)
			default:
				probs.add("%s: cannot read config file: %v", path, unwrapPathError(err))
			}
			return
		}
		f, errs := parseINI(path, data)
		for _, e := range errs {
			probs.add("%s", e.Error())
		}
		parsed = append(parsed, f)
		c.Files = append(c.Files, path)
	}
	var fileArgs, dirArgs []string
	for _, p := range opts.Files {
		p = fixPath(p, home)
		fileArgs = append(fileArgs, p)
		read(p)
	}
	for _, d := range opts.Dirs {
		d = fixPath(d, home)
		dirArgs = append(dirArgs, d)
		c.Dirs = append(c.Dirs, d)
		files, err := confFilesIn(d)
		if err != nil {
			probs.add("%s", err.Error())
			continue
		}
		for _, f := range files {
			read(f)
		}
	}
	c.SearchDirs = searchDirs(fileArgs, dirArgs, home)

	// 2. Unknown keys in keystone-ng's own sections are errors.
	for _, f := range parsed {
		groups := make([]string, 0, len(f.keyOrder))
		for g := range f.keyOrder {
			groups = append(groups, g)
		}
		sort.Strings(groups)
		for _, g := range groups {
			if !ownSections[g] {
				continue
			}
			for _, k := range f.keyOrder[g] {
				if lookupOption(g, k) == nil {
					probs.add("%s:%d: unknown option %q in [%s]%s", f.name, f.sections[g][k][0].line, k, g, suggest(g, k))
				}
			}
		}
	}

	// 3. Layer defaults, file values and environment overrides with viper.
	// Values stay raw strings here: substitution and oslo type conversion
	// come after layering, as in oslo (an overridden value is substituted
	// and converted like a file value).
	v, src := layer(parsed, opts.Environ, probs)

	// 4. Substitute and convert every option.
	r := newResolver(parsed, v, src)
	for _, o := range schema {
		val, err := r.resolve(o)
		if err != nil {
			probs.add("%s", err.Error())
			continue
		}
		o.assign(c, val)
	}

	c.sources = map[string]string{}
	for o, w := range src {
		c.sources[o.section+" "+o.name] = w
	}

	// 5. Semantic checks.
	if err := c.Validate(); err != nil {
		var vp *Problems
		if errors.As(err, &vp) {
			probs.List = append(probs.List, vp.List...)
		}
	}
	return c, probs.errOrNil()
}

// vsection is the viper key of an option's section. Viper folds keys to
// lower case; only schema options are stored, so [DEFAULT] cannot clash with
// a [default] section (which oslo treats as a different group).
func vsection(o *option) string { return strings.ToLower(o.section) }

func vkey(o *option) string { return vsection(o) + "." + o.name }

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fixPath is oslo.config's _fixpath: expand "~" and make absolute.
func fixPath(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		p = filepath.Join(home, p[1:])
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// confFilesIn lists a --config-dir's *.conf files like Python's
// sorted(glob.glob(dir + "/*.conf")): names starting with "." are not
// matched, the order is by code point.
func confFilesIn(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: config directory not found", dir)
		}
		return nil, fmt.Errorf("%s: cannot read config directory: %v", dir, unwrapPathError(err))
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".conf") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	sort.Strings(out)
	return out, nil
}

// fileValue finds an option's raw value in the parsed files with oslo's
// _Namespace._get_file_value precedence: the last file wins; within a file
// the current name wins over deprecated names; within a (group, name) the
// last assignment wins. A MultiStrOpt collects every assignment of every
// file in file order instead.
func fileValue(files []*iniFile, o *option) (any, string, bool) {
	names := append([]ref{{o.section, o.name}}, o.deprecated...)
	if o.kind == kindMulti {
		var all []string
		where := ""
		for i := len(files) - 1; i >= 0; i-- {
			for _, n := range names {
				vals := files[i].sections[n.group][n.name]
				if len(vals) == 0 {
					continue
				}
				if where == "" {
					where = fmt.Sprintf("%s:%d", files[i].name, vals[len(vals)-1].line)
				}
				var texts []string
				for _, v := range vals {
					texts = append(texts, v.text)
				}
				all = append(texts, all...)
			}
		}
		return all, where, where != ""
	}
	for i := len(files) - 1; i >= 0; i-- {
		for _, n := range names {
			vals := files[i].sections[n.group][n.name]
			if len(vals) > 0 {
				last := vals[len(vals)-1]
				return last.text, fmt.Sprintf("%s:%d", files[i].name, last.line), true
			}
		}
	}
	return nil, "", false
}

// rawFileValue is fileValue for an option keystone-ng does not know, used
// only as a $substitution target.
func rawFileValue(files []*iniFile, group, name string) (string, bool) {
	for i := len(files) - 1; i >= 0; i-- {
		if vals := files[i].sections[group][name]; len(vals) > 0 {
			return vals[len(vals)-1].text, true
		}
	}
	return "", false
}

type envOverride struct {
	name, value string
	opt         *option
}

// envOverrides parses KEYSTONE_NG_<SECTION>__<OPTION> and the short form
// KEYSTONE_NG_<OPTION> (for [keystone_ng]). The section "DEFAULT" is
// [DEFAULT]; other sections and options are matched in lower case. An
// unknown variable aimed at keystone-ng's own section is a problem; one aimed
// at a Python section is ignored, as keystone-ng ignores the Python options
// it does not read. Variables are applied in sorted order so that a
// duplicate (short and long form of one option) resolves deterministically:
// the long form, which sorts later, wins.
func envOverrides(environ []string, probs *Problems) []envOverride {
	var out []envOverride
	env := append([]string(nil), environ...)
	sort.Strings(env)
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := name[len(EnvPrefix):]
		section, opt := SectionKeystoneNG, rest
		if s, o, long := strings.Cut(rest, "__"); long {
			section, opt = normalizeGroup(s), o
		}
		opt = strings.ToLower(opt)
		o := lookupOption(section, opt)
		if o == nil {
			if ownSections[section] {
				probs.add("environment variable %s: unknown option %q in [%s]%s", name, opt, section, suggest(section, opt))
			}
			continue
		}
		out = append(out, envOverride{name: name, value: val, opt: o})
	}
	return out
}

// suggest names the known options of a section, for typo errors.
func suggest(section, name string) string {
	var names []string
	for _, o := range schema {
		if o.section == section {
			names = append(names, o.name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (known options: " + strings.Join(names, ", ") + ")"
}

// layer stacks defaults < file values < environment overrides in a viper
// instance, keyed "section.option", holding raw (unsubstituted) text; src
// records where each non-default value came from.
func layer(parsed []*iniFile, environ []string, probs *Problems) (*viper.Viper, map[*option]string) {
	v := viper.New()
	src := map[*option]string{}
	fileLayer := map[string]any{}
	for _, o := range schema {
		if o.kind == kindMulti {
			v.SetDefault(vkey(o), o.defMulti)
		} else {
			v.SetDefault(vkey(o), o.def)
		}
		if raw, where, ok := fileValue(parsed, o); ok {
			sec, _ := fileLayer[vsection(o)].(map[string]any)
			if sec == nil {
				sec = map[string]any{}
				fileLayer[vsection(o)] = sec
			}
			sec[o.name] = raw
			src[o] = where
		}
	}
	if err := v.MergeConfigMap(fileLayer); err != nil {
		probs.add("internal: merging file values: %v", err)
	}
	for _, e := range envOverrides(environ, probs) {
		if e.opt.kind == kindMulti {
			v.Set(vkey(e.opt), parseList(e.value))
		} else {
			v.Set(vkey(e.opt), e.value)
		}
		src[e.opt] = "environment variable " + e.name
	}

	return v, src
}
