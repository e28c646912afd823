package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Load builds the configuration: [Default], then the YAML file at path
// (none when path is ""), then the SIDECAR_ variables of environ (pass
// os.Environ()), then the secrets named by the *_file keys, then
// [Config.Validate].
//
// Unknown keys in the file are errors. A SIDECAR_ variable that names no
// key (SIDECAR_PORT, an app's own SIDECAR_HEADER_SECRET,
// SIDECAR_SESSION_IDLE_TIMEOUT with single underscores) is skipped with a
// warning naming it, among
// [Config.Warnings]: apps and orchestrators put their own SIDECAR_
// variables in shared environments. One that reaches a key but cannot set
// it that way (SIDECAR_SESSION, SIDECAR_UPSTREAMS__0__URL), or whose value
// does not fit its key, is an error. Problems are
// reported as an errors.Join of *[KeyError]: all unknown keys and
// wrongly-typed values at once; if there are none, all problems with
// secret files; if there are none, all validation problems. A file that
// cannot be read or parsed is reported on its own.
func Load(path string, environ []string) (*Config, error) {
	k := koanf.New(".")
	var errs []error

	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("loading config file %s: %w", path, err)
		}
		errs = append(errs, checkKeys(k.Raw(), configType(), "")...)
	}

	var (
		envErrs    []error
		ignoredEnv []string
	)
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, v, err := envValue(name, value)
			var ignored *envIgnored
			switch {
			case errors.As(err, &ignored):
				ignoredEnv = append(ignoredEnv, ignored.Error())
				return "", nil
			case err != nil:
				envErrs = append(envErrs, err)
				return "", nil
			}
			return key, v
		},
	})
	if err := k.Load(envProvider, nil, koanf.WithMergeFunc(mergeEnv)); err != nil {
		return nil, fmt.Errorf("reading the environment: %w", err)
	}
	errs = append(errs, envErrs...)

	// Decode even after the checks above failed, so that one run reports
	// every problem; drop what would repeat a reported key. The decoder
	// fills existing list entries key by key, so each upstream starts from
	// its defaults.
	cfg := Default()
	if list, ok := k.Get("upstreams").([]any); ok {
		cfg.Upstreams = make([]Upstream, len(list))
		for i := range cfg.Upstreams {
			cfg.Upstreams[i] = defaultUpstream()
		}
	}
	errs = append(errs, withoutReported(decode(k, &cfg, len(errs) == 0), errs)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := cfg.readSecretFiles(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	slices.Sort(ignoredEnv)
	cfg.ignoredEnv = ignoredEnv
	return &cfg, nil
}

// mergeEnv merges the keys set by the environment (src) over those of the
// file (dest): a section is merged key by key; any other value, a list or
// a map (proxy.affinity.routes) included, replaces the file's whole.
func mergeEnv(src, dest map[string]any) error {
	mergeOver(src, dest, configType())
	return nil
}

// mergeOver sets the keys of src over dest, both of struct type t.
func mergeOver(src, dest map[string]any, t reflect.Type) {
	for name, v := range src {
		f, ok := fieldByKey(t, name)
		sm, srcIsMap := v.(map[string]any)
		dm, destIsMap := dest[name].(map[string]any)
		if ok && isSection(f.Type) && srcIsMap && destIsMap {
			mergeOver(sm, dm, f.Type)
			continue
		}
		dest[name] = v
	}
}

// decode decodes the merged file and environment onto cfg, which holds the
// defaults: a key that was not given keeps its default. No weak typing: a
// string where a number is expected is an error, not a conversion.
// errorUnused reports keys that cfg has no field for; checkKeys and
// envValue report them first, so this is a backstop.
func decode(k *koanf.Koanf, cfg *Config, errorUnused bool) []error {
	err := k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:  strictHook,
			ErrorUnused: errorUnused,
		},
	})
	if err == nil {
		return nil
	}
	return keyErrors(err)
}

// withoutReported returns the errors of errs whose key is neither one of
// the keys of reported nor inside one.
func withoutReported(errs, reported []error) []error {
	var out []error
next:
	for _, err := range errs {
		var e *KeyError
		if errors.As(err, &e) {
			for _, r := range reported {
				var re *KeyError
				if errors.As(r, &re) && (e.Key == re.Key ||
					strings.HasPrefix(e.Key, re.Key+".") || strings.HasPrefix(e.Key, re.Key+"[")) {
					continue next
				}
			}
		}
		out = append(out, err)
	}
	return out
}

// strictHook parses durations from strings only ("30s", never a bare
// number, which would be nanoseconds), refuses to truncate a fractional
// number into an integer, and reads a TLS version written as a number
// (1.2) as its string.
func strictHook(from, to reflect.Type, data any) (any, error) {
	switch {
	case isDuration(to):
		switch v := data.(type) {
		case string:
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("invalid duration %q", v)
			}
			return d, nil
		case time.Duration:
			return v, nil
		}
		return nil, fmt.Errorf(`expected a duration such as "30s" or "1m30s", got %s`, describe(from))
	case to == reflect.TypeFor[TLSVersion]() && from.Kind() == reflect.Float64:
		// min_version: 1.3 unquoted, which YAML reads as a number.
		return strconv.FormatFloat(reflect.ValueOf(data).Float(), 'f', -1, 64), nil
	case to.Kind() == reflect.Int && (from.Kind() == reflect.Float64 || from.Kind() == reflect.Float32):
		f := reflect.ValueOf(data).Float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("expected an integer, got %v", f)
		}
		return int64(f), nil
	}
	return data, nil
}

// keyErrors turns the decoder's errors into *KeyError values with the
// dotted key first and messages that never include the offending value
// (it may be a secret).
func keyErrors(err error) []error {
	var de *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range e.Unwrap() {
			out = append(out, keyErrors(inner)...)
		}
		return out
	case *mapstructure.DecodeError:
		de = e
	default:
		if inner := errors.Unwrap(err); inner != nil {
			return keyErrors(inner)
		}
		return []error{err}
	}

	inner := de.Unwrap()
	var (
		unconvertible *mapstructure.UnconvertibleTypeError
		parse         *mapstructure.ParseError
		msg           string
	)
	switch {
	case errors.As(inner, &unconvertible):
		want := unconvertible.Expected.Type()
		got := reflect.TypeOf(unconvertible.Value)
		msg = fmt.Sprintf("expected %s, got %s", describe(want), describe(got))
		if want.Kind() == reflect.String && got != nil && got.Kind() != reflect.Map && got.Kind() != reflect.Slice {
			msg += " (quote the value)"
		}
	case errors.As(inner, &parse):
		msg = "expected " + describe(parse.Expected.Type())
	default:
		msg = inner.Error()
	}
	key := dottedMapKey(de.Name())
	if key == "" {
		key = "(top level)"
	}
	return []error{&KeyError{Key: key, Msg: msg}}
}

// dottedMapKey rewrites the decoder's name for an entry of a map key,
// "proxy.affinity.routes[node1]", in the dotted form of the other errors:
// "proxy.affinity.routes.node1".
func dottedMapKey(name string) string {
	for _, k := range mapKeys(configType(), "") {
		if rest, ok := strings.CutPrefix(name, k+"["); ok && strings.HasSuffix(rest, "]") {
			return k + "." + strings.TrimSuffix(rest, "]")
		}
	}
	return name
}

// describe names a kind of value as a person writing YAML would.
func describe(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	if isDuration(t) {
		return "a duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
