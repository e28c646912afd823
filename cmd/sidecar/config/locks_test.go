package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
)

// Loading the keys of session.lock, locks and lock_service; their
// validation rules are in TestValidateRules and TestValidateAccepts.

// sessionLocking turns session locking on.
func sessionLocking(c *Config) { c.Session.Locking = LockingSession }

// lockService turns the lock service on, on a non-loopback address.
func lockService(c *Config) {
	c.LockService.Listen = "10.0.0.5:9091"
	c.LockService.Token = testLockToken
}

// TestDefaultLockPrefixIsTheLockPackages pins locks.prefix's default to
// lock.DefaultPrefix, which the lock package uses for an empty prefix.
func TestDefaultLockPrefixIsTheLockPackages(t *testing.T) {
	assert.Equal(t, lock.DefaultPrefix, Default().Locks.Prefix)
}

func TestLockScope(t *testing.T) {
	redlock := []string{"a:1", "b:2", "c:3"}
	tests := []struct {
		name         string
		store        StoreType
		redlockAddrs []string
		want         string
	}{
		{"bolt", StoreBolt, nil, LockScopeProcess},
		{"memory", StoreMemory, []string{}, LockScopeProcess},
		{"redis", StoreRedis, nil, LockScopeRedis},
		{"redlock over bolt", StoreBolt, redlock, LockScopeRedlock},
		{"redlock over memory", StoreMemory, redlock, LockScopeRedlock},
		{"redlock over redis", StoreRedis, redlock, LockScopeRedlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			c.Store.Type = tt.store
			c.Locks.RedlockAddrs = tt.redlockAddrs
			assert.Equal(t, tt.want, c.LockScope())
			assert.Equal(t, tt.want == LockScopeRedlock, c.Locks.Redlock())
		})
	}
	assert.Equal(t, []string{"redlock", "redis", "process"}, []string{LockScopeRedlock, LockScopeRedis, LockScopeProcess})
}

func TestLockServiceEnabled(t *testing.T) {
	c := validConfig()
	assert.False(t, c.LockService.Enabled(), "off by default")
	lockService(&c)
	assert.True(t, c.LockService.Enabled())
}

func TestSameListener(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", true},
		{"localhost:8080", "LocalHost:8080", true},
		{":8080", "10.0.0.5:8080", true},
		{"0.0.0.0:8080", "127.0.0.1:8080", true},
		{"[::1]:8080", "[::]:8080", true},
		{"127.0.0.1:8080", "127.0.0.1:08080", true},
		{"127.0.0.1:8080", "10.0.0.5:8080", false},
		{"127.0.0.1:8080", "127.0.0.1:8081", false},
		{":8080", ":8081", false},
		{"127.0.0.1:0", "127.0.0.1:0", false}, // each gets a free port
		{":0", ":0", false},
		{"bad", "bad", true},
		{"bad", "127.0.0.1:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, sameListener(tt.a, tt.b))
			assert.Equal(t, tt.want, sameListener(tt.b, tt.a), "symmetric")
		})
	}
}

func TestLoadLockKeys(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   []string
		check func(t *testing.T, c *Config)
	}{
		{"file", `
session:
  locking: session
  lock:
    wait: 2s
    ttl: 1m
    on_timeout: proceed
    skip_paths: ["/static/*", "/poll"]
locks:
  redlock_addrs: ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"]
  prefix: "app:lock:"
lock_service:
  listen: "10.0.0.5:9091"
  token: "` + testLockToken + `"
  max_ttl: 10m
  max_wait: 1m
`, nil, func(t *testing.T, c *Config) {
			assert.Equal(t, SessionLockConfig{
				Wait: 2 * time.Second, TTL: time.Minute, OnTimeout: proxy.ProceedOnTimeout,
				SkipPaths: []string{"/static/*", "/poll"},
			}, c.Session.Lock)
			assert.Equal(t, LocksConfig{
				RedlockAddrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
				RedlockTLS:   defaultBackendTLS(),
				Prefix:       "app:lock:",
			}, c.Locks)
			assert.Equal(t, LockServiceConfig{
				Listen: "10.0.0.5:9091", Token: testLockToken, MaxTTL: 10 * time.Minute, MaxWait: time.Minute,
			}, c.LockService)
			assert.Equal(t, LockScopeRedlock, c.LockScope())
		}},
		{"siblings keep their defaults", "session:\n  locking: session\n  lock:\n    ttl: 10s\n", nil, func(t *testing.T, c *Config) {
			assert.Equal(t, 10*time.Second, c.Session.Lock.TTL)
			assert.Equal(t, 5*time.Second, c.Session.Lock.Wait)
			assert.Equal(t, proxy.RejectOnTimeout, c.Session.Lock.OnTimeout)
			assert.Empty(t, c.Session.Lock.SkipPaths)
			assert.Equal(t, "sidecar:lock:", c.Locks.Prefix)
			assert.Equal(t, LockScopeProcess, c.LockScope())
		}},
		{"environment", "", []string{
			"SIDECAR_SESSION__LOCKING=session",
			"SIDECAR_SESSION__LOCK__WAIT=250ms",
			"SIDECAR_SESSION__LOCK__TTL=45s",
			"SIDECAR_SESSION__LOCK__ON_TIMEOUT=proceed",
			"SIDECAR_SESSION__LOCK__SKIP_PATHS=/static/*, /poll,,",
			"SIDECAR_LOCKS__REDLOCK_ADDRS=a:1,b:2,c:3",
			"SIDECAR_LOCKS__REDLOCK_PASSWORD=pw",
			"SIDECAR_LOCKS__PREFIX=app:lock:",
			"SIDECAR_LOCK_SERVICE__LISTEN=0.0.0.0:9091",
			"SIDECAR_LOCK_SERVICE__TOKEN=" + testLockToken,
			"SIDECAR_LOCK_SERVICE__MAX_TTL=2m",
			"SIDECAR_LOCK_SERVICE__MAX_WAIT=5s",
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, LockingSession, c.Session.Locking)
			assert.Equal(t, SessionLockConfig{
				Wait: 250 * time.Millisecond, TTL: 45 * time.Second, OnTimeout: proxy.ProceedOnTimeout,
				SkipPaths: []string{"/static/*", "/poll"},
			}, c.Session.Lock)
			assert.Equal(t, LocksConfig{RedlockAddrs: []string{"a:1", "b:2", "c:3"}, RedlockPassword: "pw",
				RedlockTLS: defaultBackendTLS(), Prefix: "app:lock:"}, c.Locks)
			assert.Equal(t, LockServiceConfig{
				Listen: "0.0.0.0:9091", Token: testLockToken, MaxTTL: 2 * time.Minute, MaxWait: 5 * time.Second,
			}, c.LockService)
		}},
		{"environment list replaces the file's", "session:\n  lock:\n    skip_paths: [\"/a\", \"/b\"]\nlocks:\n  redlock_addrs: [\"a:1\", \"b:2\", \"c:3\"]\n", []string{
			"SIDECAR_SESSION__LOCK__SKIP_PATHS=/c",
			"SIDECAR_LOCKS__REDLOCK_ADDRS=",
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"/c"}, c.Session.Lock.SkipPaths)
			assert.Empty(t, c.Locks.RedlockAddrs, "an empty variable clears the list")
			assert.Equal(t, LockScopeProcess, c.LockScope())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			cfg, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

func TestLoadLockKeyErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      []string
		wantKeys []string
		wantMsg  string
	}{
		{"file: typo in session.lock", "session:\n  lock:\n    on_timout: reject\n", nil,
			[]string{"session.lock.on_timout"}, "session.lock.on_timout: unknown key (did you mean session.lock.on_timeout?)"},
		{"file: locks misspelt as a section", "lock:\n  prefix: x\n", nil,
			[]string{"lock"}, "lock: unknown key (did you mean locks?)"},
		{"file: typo in locks", "locks:\n  redlock_adrs: [\"a:1\"]\n", nil,
			[]string{"locks.redlock_adrs"}, "(did you mean locks.redlock_addrs?)"},
		{"file: typo in lock_service", "lock_service:\n  max_tll: 1m\n", nil,
			[]string{"lock_service.max_tll"}, "(did you mean lock_service.max_ttl?)"},
		{"file: scalar for a list", "session:\n  lock:\n    skip_paths: /static/*\n", nil,
			[]string{"session.lock.skip_paths"}, "session.lock.skip_paths:"},
		{"file: bare number for a duration", "session:\n  lock:\n    wait: 5\n", nil,
			[]string{"session.lock.wait"}, `expected a duration such as "30s"`},
		{"env: a section is not a value", "", []string{"SIDECAR_SESSION__LOCK=session"},
			[]string{"session.lock"}, "session.lock: is a section, not a value; set one of its keys, e.g. SIDECAR_SESSION__LOCK__WAIT"},
		{"env: bad duration", "", []string{"SIDECAR_LOCK_SERVICE__MAX_TTL=5"},
			[]string{"lock_service.max_ttl"}, `lock_service.max_ttl: invalid duration "5" (from environment variable SIDECAR_LOCK_SERVICE__MAX_TTL)`},
		{"validation after loading", "session:\n  locking: session\n", []string{
			"SIDECAR_LOCKS__REDLOCK_ADDRS=a:1,b:2",
			"SIDECAR_SESSION__LOCK__SKIP_PATHS=static",
		}, []string{"session.lock.skip_paths[0]", "locks.redlock_addrs"}, "needs at least 3 Redis masters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.Error(t, err)
			assert.Equal(t, tt.wantKeys, errorKeys(err))
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestLoadLockSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	passwordFile := file("redlock", " redlock pw \n")
	tokenFile := file("token", testLockToken+"\n")

	t.Run("both files", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "s.yaml", minimalYAML), []string{
			"SIDECAR_LOCKS__REDLOCK_PASSWORD_FILE=" + passwordFile,
			"SIDECAR_LOCK_SERVICE__LISTEN=127.0.0.1:9091",
			"SIDECAR_LOCK_SERVICE__TOKEN_FILE=" + tokenFile,
		})
		require.NoError(t, err)
		assert.Equal(t, Secret("redlock pw"), cfg.Locks.RedlockPassword)
		assert.Equal(t, Secret(testLockToken), cfg.LockService.Token)
		assert.Equal(t, tokenFile, cfg.LockService.TokenFile, "the file key is kept")
	})

	tests := []struct {
		name     string
		env      []string
		wantKeys []string
		wantMsg  string
	}{
		{"redlock password and file", []string{"SIDECAR_LOCKS__REDLOCK_PASSWORD=x", "SIDECAR_LOCKS__REDLOCK_PASSWORD_FILE=" + passwordFile},
			[]string{"locks.redlock_password_file"}, "locks.redlock_password_file: cannot be used together with locks.redlock_password"},
		{"token and file", []string{"SIDECAR_LOCK_SERVICE__TOKEN=" + testLockToken, "SIDECAR_LOCK_SERVICE__TOKEN_FILE=" + tokenFile},
			[]string{"lock_service.token_file"}, "lock_service.token_file: cannot be used together with lock_service.token"},
		{"missing files", []string{
			"SIDECAR_LOCKS__REDLOCK_PASSWORD_FILE=" + filepath.Join(dir, "missing"),
			"SIDECAR_LOCK_SERVICE__TOKEN_FILE=" + filepath.Join(dir, "missing"),
		}, []string{"locks.redlock_password_file", "lock_service.token_file"}, "no such file or directory"},
		{"short token from a file is validated", []string{
			"SIDECAR_LOCK_SERVICE__LISTEN=127.0.0.1:9091",
			"SIDECAR_LOCK_SERVICE__TOKEN_FILE=" + file("short", "tooshort\n"),
		}, []string{"lock_service.token"}, "lock_service.token: must be at least 16 bytes (got 8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "s.yaml", minimalYAML), tt.env)
			require.Error(t, err)
			assert.Equal(t, tt.wantKeys, errorKeys(err))
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

// TestLoadNeverPrintsLockSecrets is TestLoadNeverPrintsSecrets for the
// lock service token and the Redlock password.
func TestLoadNeverPrintsLockSecrets(t *testing.T) {
	const marker = "SeCrEt-MaRkEr"
	tests := []struct {
		name string
		yaml string
		env  []string
	}{
		{"short token", "lock_service:\n  listen: \"127.0.0.1:9091\"\n  token: \"" + marker + "\"\n", nil},
		{"token equals the admin token", "admin:\n  token: \"" + marker + "-0123456789\"\nlock_service:\n  listen: \"127.0.0.1:9091\"\n  token: \"" + marker + "-0123456789\"\n", nil},
		{"token equals a session secret", "session:\n  secrets: [\"" + marker + "-0123456789abcdefghijklmnop\"]\nlock_service:\n  listen: \"127.0.0.1:9091\"\n  token: \"" + marker + "-0123456789abcdefghijklmnop\"\n", nil},
		{"token of the wrong type", "lock_service:\n  token: [\"" + marker + "\"]\n", nil},
		{"password of the wrong type", "locks:\n  redlock_password: {" + marker + ": 1}\n", nil},
		{"password given twice", "", []string{"SIDECAR_LOCKS__REDLOCK_PASSWORD=" + marker, "SIDECAR_LOCKS__REDLOCK_PASSWORD_FILE=/nonexistent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), marker)
		})
	}
}
