package sessions_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// FuzzCommit drives the whole response side (patch, principal and action
// headers, parsed and committed through a Manager on the memory store)
// and holds issue 9 item 4's property: either the response is refused
// (the proxy's 502) and the stored session is exactly what it was, or the
// JWT of the session, as committed and as read back from the store,
// decodes with a strict JSON decoder (valid UTF-8, no lone surrogate, no
// NUL-led name) nested at most DefaultMaxPatchDepth+1 deep. Seeds live in
// testdata/fuzz/FuzzCommit; principals are separated by "\n" (one value
// per header line), and so are actions.
func FuzzCommit(f *testing.F) {
	for _, s := range [][4]string{
		{`{"user":"bob"}`, ``, "bob", ""},
		{`{"user":null,"cart":{"x":[1,{"y":null}]}}`, `{"cart":{"x":null}}`, "", "regenerate"},
		{"{\"user\":\"b\xffb\"}", ``, "", ""},
		{`{"u":"\ud800"}`, ``, "", ""},
		{`{"u":"\udc00\ud800"}`, ``, "", ""},
		{`{"\u0000":1}`, ``, "", ""},
		{`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, ``, "", ""},
		{`{"a":"\ud83d\ude00é"}`, `{"b":"` + strings.Repeat("x", 600) + `"}`, "ann\nbob", ""},
		{`{}`, ``, "ann\n ann ", "destroy\nDestroy"},
		{`{"x":1}`, `[]`, "b\xffb", "regenerate\ndestroy"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	mem := memory.New(memory.Options{})
	f.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(secret)})
	require.NoError(f, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: signer, MaxBytes: 512})
	require.NoError(f, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("header-secret-0123456789abcdefghijk")})
	require.NoError(f, err)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, patch1, patch2, principals, actions string) {
		// A session to write to, as a login would leave it.
		s, err := m.Load(ctx, "")
		require.NoError(t, err)
		require.NoError(t, m.Commit(ctx, s, &sessions.Change{
			Patches: []string{`{"user":"ann","cart":{"x":[1,2],"y":"é"}}`}, Principal: ptr("ann")}))
		cookie := signer.Sign(s.Token())
		key := s.Token().Key()
		defer func() { _ = mem.Delete(ctx, key) }()
		before, err := mem.Load(ctx, key, nil)
		require.NoError(t, err)

		s, err = m.Load(ctx, cookie)
		require.NoError(t, err)
		defer func() { _ = mem.Delete(ctx, s.Token().Key()) }() // after a regenerate
		err = commit(ctx, m, s, patch1, patch2, principals, actions)
		if err != nil {
			if !errors.Is(err, sessions.ErrBadPatch) && !errors.Is(err, sessions.ErrBadAction) &&
				!errors.Is(err, sessions.ErrBadPrincipal) && !errors.Is(err, sessions.ErrTooLarge) {
				t.Fatalf("refusal that is not the app's error: %v", err)
			}
			after, err := mem.Load(ctx, key, nil)
			require.NoError(t, err)
			require.Equal(t, before, after, "a refused response changed the stored session")
			return
		}
		if s.Record() == nil {
			return // destroyed
		}
		strictJWT(t, hdr, s)
		again, err := m.Load(ctx, signer.Sign(s.Token()))
		require.NoError(t, err)
		require.NotNil(t, again.Record(), "the committed session is in the store")
		strictJWT(t, hdr, again)
	})
}

// commit parses the directives as the proxy does and commits them.
func commit(ctx context.Context, m *sessions.Manager, s *sessions.Session, patch1, patch2, principals, actions string) error {
	var patches []string
	for _, p := range []string{patch1, patch2} {
		if p != "" {
			patches = append(patches, p)
		}
	}
	var ps, as []string
	if principals != "" {
		ps = strings.Split(principals, "\n")
	}
	if actions != "" {
		as = strings.Split(actions, "\n")
	}
	act, err := sessions.ParseAction(as)
	if err != nil {
		return err
	}
	principal, err := sessions.ParsePrincipal(ps)
	if err != nil {
		return err
	}
	return m.Commit(ctx, s, &sessions.Change{Patches: patches, Action: act, Principal: principal})
}

// strictJWT checks that the session's JWT verifies and that its payload
// is strict JSON within the depth limit.
func strictJWT(t *testing.T, hdr *sessions.HeaderSigner, s *sessions.Session) {
	t.Helper()
	tok, err := hdr.Sign(s, "req")
	require.NoError(t, err)
	_, err = hdr.ParseHeader(tok)
	require.NoError(t, err)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	require.NoError(t, err)
	if err := sessions.StrictJSON(payload, sessions.DefaultMaxPatchDepth+1); err != nil {
		t.Fatalf("accepted session's JWT is not strict JSON: %v\n%s", err, payload)
	}
}

func ptr(s string) *string { return &s }
