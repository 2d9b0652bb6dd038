package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/keystone-ng/keystone-ng/pkg/config"
	"github.com/keystone-ng/keystone-ng/pkg/fernet"
	"github.com/keystone-ng/keystone-ng/pkg/issue"
	"github.com/keystone-ng/keystone-ng/pkg/jws"
	"github.com/keystone-ng/keystone-ng/pkg/token"
)

// tokenKeys are the key repositories of [token] provider: the Fernet
// repository, or the JWS public and private key repositories. Each is
// reloaded by pkg/keyrepo's one rule.
type tokenKeys struct {
	provider string
	fernet   *fernet.Repository
	public   *jws.PublicRepository
	private  *jws.PrivateRepository
	// privateErr says why private is nil with provider jws: validation
	// needs only the public keys, so a node without the signing key
	// still validates, and /v4 logins (which mint) are off.
	privateErr error
}

// openTokenKeys opens the repositories of cfg's provider; an error means
// the service must not start (no key to validate with).
func openTokenKeys(cfg *config.Config, log *slog.Logger) (*tokenKeys, error) {
	k := &tokenKeys{provider: cfg.Token.Provider}
	if k.provider != "jws" {
		r, err := fernet.OpenRepository(cfg.FernetTokens.KeyRepository)
		if err != nil {
			return nil, fmt.Errorf("[fernet_tokens] key_repository: %w", err)
		}
		r.Logger = log
		k.fernet = r
		return k, nil
	}
	pub, err := jws.OpenPublicRepository(cfg.JWTTokens.JWSPublicKeyRepository)
	if err != nil {
		return nil, fmt.Errorf("[jwt_tokens] jws_public_key_repository: %w", err)
	}
	pub.Logger = log
	k.public = pub
	priv, err := jws.OpenPrivateRepository(cfg.JWTTokens.JWSPrivateKeyRepository)
	if err != nil {
		k.privateErr = fmt.Errorf("[jwt_tokens] jws_private_key_repository: %w", err)
	} else {
		priv.Logger = log
		k.private = priv
	}
	return k, nil
}

// validator sets v's way of reading tokens.
func (k *tokenKeys) validator(v *token.Validator) {
	if k == nil { // an app assembled without keys (tests)
		return
	}
	if k.public != nil {
		v.Opener = k.public
		return
	}
	v.Keys = k.fernet
}

// issuer sets i's way of minting tokens; an error means /v4 cannot mint.
func (k *tokenKeys) issuer(i *issue.Issuer) error {
	switch {
	case k == nil: // an app assembled without keys (tests)
	case k.fernet != nil:
		i.Keys = k.fernet
	case k.private != nil:
		i.Signer = k.private
	default:
		return k.privateErr
	}
	return nil
}

// count is the number of keys validation can use.
func (k *tokenKeys) count() int {
	if k.public != nil {
		return k.public.Current().Len()
	}
	return k.fernet.KeySet().Len()
}

// onReload wires fn to every repository's reloads.
func (k *tokenKeys) onReload(fn func(ok bool, n int)) {
	if k.fernet != nil {
		k.fernet.OnReload = fn
	}
	if k.public != nil {
		k.public.OnReload = fn
	}
	if k.private != nil {
		k.private.OnReload = fn
	}
}

// watch keeps every repository current until ctx ends.
func (k *tokenKeys) watch(ctx context.Context, every time.Duration) {
	if k.fernet != nil {
		go k.fernet.Watch(ctx, every)
	}
	if k.public != nil {
		go k.public.Watch(ctx, every)
	}
	if k.private != nil {
		go k.private.Watch(ctx, every)
	}
}

// describe is what `keystone-ng check` prints about the keys.
func (k *tokenKeys) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token provider: %s\n", k.provider)
	if k.fernet != nil {
		fmt.Fprintf(&b, "fernet keys: %d usable in %s\n", k.fernet.KeySet().Len(), k.fernet.Dir())
		return b.String()
	}
	pub := k.public.Current()
	fmt.Fprintf(&b, "jws public keys: %d usable in %s (%s)\n", pub.Len(), k.public.Dir(), strings.Join(pub.Names(), ", "))
	if k.private != nil {
		fmt.Fprintf(&b, "jws private key: %s in %s (/v4 logins mint JWS tokens)\n", jws.PrivateKeyFile, k.private.Dir())
	} else {
		fmt.Fprintf(&b, "jws private key: unusable, /v4 logins are off (validation is not affected): %v\n", k.privateErr)
	}
	return b.String()
}
