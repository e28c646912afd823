package certstore_test

import (
	"context"
	"log"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// Every instance of a fleet builds its certmagic Config on the same
// Redis storage: they share certificates, keys and the ACME account, and
// certmagic's locks let one instance at a time order a certificate.
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{"10.0.0.1:6379"},
		ContextTimeoutEnabled: true, // contexts bound every Redis call
	})
	defer client.Close()
	locker := lock.NewRedis(client, lock.Options{})
	defer locker.Close()
	storage, err := certstore.New(client, locker, certstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer storage.Close() // releases locks still held: before the locker and client close

	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
	})
	defer cache.Stop()
	cfg = certmagic.New(cache, certmagic.Config{Storage: storage})
	cfg.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:     certmagic.LetsEncryptProductionCA,
		Email:  "ops@example.com",
		Agreed: true,
	})}
	if err := cfg.ManageSync(context.Background(), []string{"app.example.com"}); err != nil {
		log.Fatal(err)
	}
}
