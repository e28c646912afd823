package config

import (
	"errors"
	"io/fs"
	"os"
	"strings"
)

// readSecretFiles fills each secret from its *_file key, when that is set,
// and reads the keys of headers.key_files.
// Setting a secret and its file together is an error naming both keys. A
// file holding one secret is trimmed of surrounding white space (the final
// newline in particular); session.secrets_file holds one secret per line,
// blank lines and lines starting with '#' ignored.
func (c *Config) readSecretFiles() error {
	return errors.Join(
		readSecretList(&c.Session.Secrets, c.Session.SecretsFile, "session.secrets", "session.secrets_file"),
		readSecret(&c.Headers.Secret, c.Headers.SecretFile, "headers.secret", "headers.secret_file"),
		readSecret(&c.Admin.Token, c.Admin.TokenFile, "admin.token", "admin.token_file"),
		readSecret(&c.Store.Redis.Password, c.Store.Redis.PasswordFile, "store.redis.password", "store.redis.password_file"),
		readSecret(&c.Locks.RedlockPassword, c.Locks.RedlockPasswordFile, "locks.redlock_password", "locks.redlock_password_file"),
		readSecret(&c.LockService.Token, c.LockService.TokenFile, "lock_service.token", "lock_service.token_file"),
		c.Headers.readKeyFiles(),
	)
}

// readSecret sets *dst from the file at path (key fileKey) unless path is
// empty.
func readSecret(dst *Secret, path, key, fileKey string) error {
	if path == "" {
		return nil
	}
	if *dst != "" {
		return bothSet(key, fileKey)
	}
	b, err := readFile(path, fileKey)
	if err != nil {
		return err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return keyErr(fileKey, "%q holds no secret", path)
	}
	*dst = Secret(v)
	return nil
}

// readSecretList sets *dst from the lines of the file at path (key fileKey)
// unless path is empty.
func readSecretList(dst *[]Secret, path, key, fileKey string) error {
	if path == "" {
		return nil
	}
	if len(*dst) > 0 {
		return bothSet(key, fileKey)
	}
	b, err := readFile(path, fileKey)
	if err != nil {
		return err
	}
	var out []Secret
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, Secret(line))
	}
	if len(out) == 0 {
		return keyErr(fileKey, "%q holds no secret", path)
	}
	*dst = out
	return nil
}

// readFile reads path, naming fileKey and the path (never the contents) in
// an error.
func readFile(path, fileKey string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, keyErr(fileKey, "cannot read %q: %v", path, err)
	}
	return b, nil
}

// bothSet is the error for a secret given both inline and as a file.
func bothSet(key, fileKey string) error {
	return keyErr(fileKey, "cannot be used together with %s; set only one of them", key)
}
