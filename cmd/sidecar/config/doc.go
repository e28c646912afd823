// Package config loads and validates Sidecar's configuration. It is the
// only package that imports koanf; everything else receives typed values
// from a [Config].
//
// # Load order
//
// [Load] builds a Config in five steps; each later step overrides the
// earlier ones key by key:
//
//  1. Defaults: [Default], the only place defaults are set. A key that
//     configures a library option takes the library's exported default
//     (proxy.DefaultDialTimeout, sessions.DefaultIdleTimeout ...), so that
//     each default is written once, and holds it: no key is left at zero
//     for a library to fill in.
//  2. The YAML file given with --config (optional). Keys not set in the
//     file keep their defaults; a list given in the file replaces the
//     default list. Each upstreams entry starts from the defaults of its
//     keys, so an entry without weight has weight 1.
//  3. Environment variables starting with SIDECAR_ (see below).
//  4. Secrets read from files: session.secrets_file, headers.secret_file,
//     admin.token_file, store.redis.password_file,
//     locks.redlock_password_file and lock_service.token_file. A file key
//     and its inline key (session.secrets, headers.secret, admin.token,
//     store.redis.password, locks.redlock_password, lock_service.token)
//     cannot both be set, whatever step set them.
//     A single-secret file is trimmed of surrounding white space;
//     session.secrets_file holds one secret per line, and blank lines and
//     lines starting with # are ignored.
//  5. [Config.Validate], which reports every problem at once.
//
// Each step's problems are reported together, and a step runs only when
// the ones before it found none: unknown keys and wrongly-typed values
// (file and environment) first, then secret files, then validation.
//
// Unknown keys in the file are errors, so a typo such as
// session.idle_timout fails instead of being ignored. A SIDECAR_ variable
// that names no key is not Sidecar's (an app's own SIDECAR_HEADER_SECRET,
// Kubernetes' SIDECAR_PORT): it is skipped with a warning naming it, among
// [Config.Warnings], a near miss (SIDECAR_SESSION_IDLE_TIMEOUT) with a
// "did you mean" hint; one that names a key with a bad value is an error.
// Values are
// typed strictly: a duration is a string such as "30s", "1m30s" or "12h"
// (a bare number is refused), a number is not quoted, a string that looks
// like a number or a boolean must be quoted.
//
// # Environment variables
//
// Every key can be set from the environment. The name is SIDECAR_ followed
// by the key's path with "__" (two underscores) between levels; the part
// after SIDECAR_ is case-insensitive, and single underscores belong to the
// key name:
//
//	SIDECAR_LISTEN=0.0.0.0:8080                    listen
//	SIDECAR_SESSION__IDLE_TIMEOUT=45m              session.idle_timeout
//	SIDECAR_STORE__REDIS__PASSWORD_FILE=/run/pw    store.redis.password_file
//
// A list is written comma-separated, with spaces around items trimmed and
// empty items dropped; an empty value is an empty list:
//
//	SIDECAR_STORE__REDIS__ADDRS=10.0.0.1:6379,10.0.0.2:6379
//	SIDECAR_SESSION__SECRETS=new-secret...,old-secret...
//	SIDECAR_TLS__ACME__DOMAINS=app.example.com,www.example.com
//	SIDECAR_LOCKS__REDLOCK_ADDRS=10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379
//	SIDECAR_SESSION__LOCK__SKIP_PATHS=/static/*,/poll
//	SIDECAR_STORE__REDIS__ADDRS=rediss://redis.internal:6380   (TLS)
//
// The upstream list is written name=url, comma-separated, each entry
// optionally followed by ;weight=N (without it, the weight is 1), and
// replaces the whole list from the file:
//
//	SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081,app2=http://127.0.0.1:8082;weight=2
//
// The affinity routes are written route=upstream, comma-separated, and
// replace the whole map from the file (an empty value clears it). An
// entry is split at its last '=', as an upstream name contains none, so a
// route may contain '=' (a base64 cookie value in map mode); route names
// keep their case:
//
//	SIDECAR_PROXY__AFFINITY__ROUTES=node1=app1,node2=app2
//
// Booleans are true or false (also 1/0, t/f); integers are decimal;
// durations are checked as in the file. An empty value sets a string to ""
// and a list to empty (useful to clear an inline secret from the file when
// its *_file key is set from the environment). Lists of sections and maps
// cannot be set element by element (SIDECAR_UPSTREAMS__0__URL and
// SIDECAR_PROXY__AFFINITY__ROUTES__NODE1 are errors). An
// environment variable that starts with SIDECAR_ but names no key is an
// error, with a suggestion when the name is close to a key. A secret that
// contains a comma cannot be given in SIDECAR_SESSION__SECRETS; use
// session.secrets_file.
//
// # Reloading
//
// A running Sidecar reloads its configuration on SIGHUP with [Load], and
// [Config.Reload] returns the configuration it continues with: the new
// values of the keys it applies at once (upstreams and their weights,
// proxy.policy, proxy.panic_threshold, proxy.health_check, proxy.passive,
// proxy.retry,
// proxy.affinity, log.level) and the running values of those that take a
// restart (every other key), with the changed keys of both kinds
// ([Config.ReloadDiff]). A restart without downtime goes through
// server.handover_socket, which needs store.type redis or memory.
//
// # Errors
//
// Every problem with a key is a *[KeyError] whose text starts with the key
// in dotted form, with list indices, for example
//
//	session.secrets[1]: must be at least 32 bytes (got 10)
//	store.type: "mongo" is not one of bolt, memory, redis
//	session.idle_timeout: invalid duration "30x"
//	proxy.affinity.routes.node1: "app9" is not the name of an upstream (the upstreams are app1, app2)
//
// Errors and [Config.String] never contain the value of a secret: secret
// keys have the type [Secret], which prints as [redacted].
package config
