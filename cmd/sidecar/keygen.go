package main

import (
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// keygenBytes is the entropy of every secret keygen prints: 256 bits,
// written as 43 base64url characters, past the 32 bytes that
// session.secrets and headers.secret need and the 16 of the tokens. The
// alphabet has no ',' (a list separator in the environment), no quote and
// no space, so a value pastes anywhere unquoted.
const keygenBytes = 32

// newSecret returns keygenBytes from crypto/rand in base64url without
// padding.
func newSecret() string {
	b := make([]byte, keygenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// keygenSecrets are one fresh set, each distinct from the others, as the
// config's validation requires.
type keygenSecrets struct {
	cookie, header, admin, lock string
}

const keygenYAML = `# Fresh secrets from "sidecar keygen". Merge these keys into your config
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
  # README's PHP example reads it from SIDECAR_HEADER_SECRET) and nothing
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

const keygenEnv = `# Fresh secrets from "sidecar keygen", as environment variables (an
# environment file for docker --env-file or systemd EnvironmentFile=).
# Cookie HMAC key, session.secrets: Sidecar's alone, never give it to an app.
%s=%s
# HS256 key of the X-Sidecar-Session header, headers.secret: every app needs
# it too (under its own name, e.g. SIDECAR_HEADER_SECRET).
%s=%s
# Bearer token of the admin API, admin.token: operators only.
%s=%s
# Bearer token of the lock service, lock_service.token: the apps that lock.
%s=%s
`

// runKeygen is `sidecar keygen [--format yaml|env|raw]`.
func runKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "yaml", "yaml: config keys; env: SIDECAR_ variables; raw: one secret alone, e.g. for a *_file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sidecar keygen: takes no arguments, only --format yaml|env|raw\n")
		return 2
	}
	s := keygenSecrets{cookie: newSecret(), header: newSecret(), admin: newSecret(), lock: newSecret()}
	switch *format {
	case "yaml":
		fmt.Fprintf(stdout, keygenYAML, s.cookie, s.header, s.admin, s.lock)
	case "env":
		fmt.Fprintf(stdout, keygenEnv,
			config.EnvName("session.secrets"), s.cookie,
			config.EnvName("headers.secret"), s.header,
			config.EnvName("admin.token"), s.admin,
			config.EnvName("lock_service.token"), s.lock)
	case "raw":
		fmt.Fprintln(stdout, s.cookie)
	default:
		fmt.Fprintf(stderr, "sidecar keygen: --format must be yaml, env or raw (got %q)\n", *format)
		return 2
	}
	return 0
}
