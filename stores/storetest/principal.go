package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sidecarproxy/sidecar/sessions"
)

func (s *suite) testPrincipal(t *testing.T) {
	t.Run("CreateIndexes", func(t *testing.T) {
		e := s.env(t)
		p, q := randomPrincipal(), randomPrincipal()
		k1, k2 := e.create(e.record(p)), e.create(e.record(p))
		k3 := e.create(e.record(q))
		e.create(e.record(""))
		e.assertListed(p, k1, k2)
		e.assertListed(q, k3)
	})

	t.Run("UnknownPrincipalListsNothing", func(t *testing.T) {
		e := s.env(t)
		e.assertListed(randomPrincipal())
	})

	t.Run("Apply", func(t *testing.T) {
		// Sessions k1 and k2 both start with principal p (or both anonymous);
		// the delta is applied to k1 only.
		tests := []struct {
			name      string
			anonymous bool   // start without a principal
			principal string // what k1's principal becomes: "p" keeps, "q" is fresh, "" clears
			set       bool   // whether Delta.Principal is set at all
		}{
			{"Change", false, "q", true},
			{"Clear", false, "", true},
			{"SameAgain", false, "p", true},
			{"NilKeeps", false, "p", false},
			{"SetOnAnonymous", true, "q", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				p, q := randomPrincipal(), randomPrincipal()
				start := p
				if tt.anonymous {
					start = ""
				}
				rec := e.record(start)
				k1, k2 := e.create(rec), e.create(rec)
				d := &sessions.Delta{}
				want := map[string]string{"p": p, "q": q, "": ""}[tt.principal]
				if tt.set {
					d.Principal = ptr(want)
				}
				e.apply(k1, d)
				assert.Equal(t, want, e.load(k1).Principal)
				assert.Equal(t, start, e.load(k2).Principal)

				pKeys, qKeys := []string{}, []string{}
				if start == p {
					pKeys = append(pKeys, k2)
				}
				switch want {
				case p:
					pKeys = append(pKeys, k1)
				case q:
					qKeys = append(qKeys, k1)
				}
				e.assertListed(p, pKeys...)
				e.assertListed(q, qKeys...)
			})
		}
	})

	t.Run("DeletedNotListed", func(t *testing.T) {
		e := s.env(t)
		p := randomPrincipal()
		k1, k2 := e.create(e.record(p)), e.create(e.record(p))
		assert.NoError(t, e.store.Delete(e.ctx, k1))
		e.assertListed(p, k2)
	})

	t.Run("ExpiredNotListed", func(t *testing.T) {
		e := s.env(t)
		p := randomPrincipal()
		old := e.record(p)
		k1 := e.create(old)
		e.clock.Advance(10 * time.Minute)
		k2 := e.create(e.record(p))
		e.advanceTo(old.IdleExp)
		e.assertListed(p, k2)
		e.clock.Advance(10 * time.Minute)
		e.assertListed(p)
		e.assertGone(k1)
	})
}
