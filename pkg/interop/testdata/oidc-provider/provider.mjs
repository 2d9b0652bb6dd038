// An independent OpenID provider for keystone-ng's browser interop test
// (pkg/interop/v4_oidc_browser_test.go): panva's OpenID-certified
// oidc-provider, run as its own process, with its built-in development
// login and consent forms (devInteractions): the IdP's own login form.
//
//   OP_PORT=9000 OP_CLIENT_ID=ks OP_CLIENT_SECRET=s \
//   OP_REDIRECT_URIS=http://localhost:5000/v4/federation/oidc/callback \
//   node provider.mjs [port]
//
// Issuer: http://127.0.0.1:<port>. One confidential client
// (client_secret_basic, authorization code + PKCE S256 required). Any login
// name signs in (devInteractions accepts any password); its claims are
// sub = preferred_username = the login name, email = <login>@OP_EMAIL_DOMAIN.
// Prints "oidc-provider ready <issuer>" once listening; logs errors to
// stderr.
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

function need(name, value) {
  if (!value) {
    console.error(`provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return value;
}

const port = Number(need('port (argv[2] or OP_PORT)', process.argv[2] || process.env.OP_PORT));
const clientID = need('OP_CLIENT_ID', process.env.OP_CLIENT_ID);
const clientSecret = need('OP_CLIENT_SECRET', process.env.OP_CLIENT_SECRET);
const redirectURIs = need('OP_REDIRECT_URIS', process.env.OP_REDIRECT_URIS).split(/[\s,]+/).filter(Boolean);
const emailDomain = process.env.OP_EMAIL_DOMAIN || 'example.org';
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientID,
    client_secret: clientSecret,
    redirect_uris: redirectURIs,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { methods: ['S256'], required: () => true },
  features: { devInteractions: { enabled: true } },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: id,
          email: `${id}@${emailDomain}`,
          email_verified: true,
        };
      },
    };
  },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
});

for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'jwks.error', 'end_session.error']) {
  provider.on(ev, (ctx, err) => console.error(`oidc-provider ${ev}: ${err && (err.stack || err)}${err && err.error_description ? ' (' + err.error_description + ')' : ''}`));
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
