package config

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/internal/keygen"
)

// The keys that `sidecar keygen` fills with fresh secrets, written as a
// config file's keys or as environment variables, each with a comment on
// who may know it.

// SecretsYAML is s as the keys of a config file, ready to merge into one.
func SecretsYAML(s keygen.Set) string {
	return fmt.Sprintf(secretsYAML, s.Cookie, s.Header, s.Admin, s.LockService)
}

// SecretsEnv is s as environment variables (EnvName), an environment file
// for docker --env-file or systemd EnvironmentFile=.
func SecretsEnv(s keygen.Set) string {
	return fmt.Sprintf(secretsEnv,
		EnvName("session.secrets"), s.Cookie,
		EnvName("headers.secret"), s.Header,
		EnvName("admin.token"), s.Admin,
		EnvName("lock_service.token"), s.LockService)
}

const secretsYAML = `# Fresh secrets from "sidecar keygen". Merge these keys into your config
# file (or use --format env); keep them out of version control, or put each
# in a file named by its *_file key (session.secrets_file, ...).
session:
  # Cookie HMAC keys: Sidecar's alone, never give them to an app. The
  # first signs, all verify: to rotate, put a new one first, keep the old
  # one second until session.absolute_timeout has passed, then send SIGHUP
  # (docs/secrets.md).
  secrets:
    - %q
headers:
  # HS256 key of the X-Sidecar-Session header: give it to every app (the
  # kits in clients/ read it from SIDECAR_HEADERS__SECRET) and nothing
  # else. It reloads on SIGHUP; the apps must accept the new key first.
  secret: %q
admin:
  # Bearer token of the admin API (admin.listen) and of the sidecar
  # upstreams command: operators only.
  token: %q
lock_service:
  # Bearer token the apps send to the lock service (lock_service.listen).
  token: %q
`

const secretsEnv = `# Fresh secrets from "sidecar keygen", as environment variables (an
# environment file for docker --env-file or systemd EnvironmentFile=).
# Cookie HMAC key, session.secrets: Sidecar's alone, never give it to an app.
%s=%s
# HS256 key of the X-Sidecar-Session header, headers.secret: every app needs
# it too (the kits in clients/ read this same variable).
%s=%s
# Bearer token of the admin API, admin.token: operators only.
%s=%s
# Bearer token of the lock service, lock_service.token: the apps that lock.
%s=%s
`
