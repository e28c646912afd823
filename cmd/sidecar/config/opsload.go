package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// LoadOps reads the ops section alone, for `sidecar health`: the file at
// path (none when "") and then the SIDECAR_OPS__ variables of environ,
// over the defaults. Unlike [Load] it reads no secret file and checks
// nothing beyond ops.listen, so that a health check follows ops.listen
// wherever it moves, and a config being edited, a secret file being
// rotated, or a mistake in another key (which a reload would refuse while
// the running Sidecar keeps serving) never fails a liveness probe. A file
// that cannot be read or is not YAML, an ops key of the wrong type, or an
// ops.listen that is not host:port is an error.
func LoadOps(path string, environ []string) (OpsConfig, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return OpsConfig{}, fmt.Errorf("loading config file %s: %w", path, err)
		}
	}
	var errs []error
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvName("ops") + "__",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, v, err := envValue(name, value)
			var ignored *envIgnored
			if err != nil && !errors.As(err, &ignored) {
				errs = append(errs, err)
			}
			if err != nil {
				return "", nil
			}
			return key, v
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return OpsConfig{}, fmt.Errorf("reading the environment: %w", err)
	}
	o := Default().Ops
	if err := k.UnmarshalWithConf("ops", &o, koanf.UnmarshalConf{
		Tag:           "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{DecodeHook: strictHook},
	}); err != nil {
		for _, e := range keyErrors(err) {
			var ke *KeyError
			if errors.As(e, &ke) { // named from inside the ops section
				ke.Key = strings.TrimSuffix(joinKey("ops", ke.Key), ".(top level)")
			}
			errs = append(errs, e)
		}
	}
	if o.Enabled() {
		if err := checkHostPort(o.Listen); err != nil {
			errs = append(errs, keyErr("ops.listen", "%v", err))
		}
	}
	if len(errs) > 0 {
		return OpsConfig{}, errors.Join(errs...)
	}
	return o, nil
}
