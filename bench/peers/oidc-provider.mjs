// A tiny launcher for oidc-provider (the reference OpenID Connect provider for Node), as the
// peers benchmark runs it: in-memory adapter (the library's default), one confidential client,
// RS256 signing with a key the benchmark made before the start, introspection enabled, and the
// library's development interactions (a login form that accepts any account id, then a consent
// form) so that the benchmark can walk the real authorization-code flow.
//
// Usage: node oidc-provider.mjs CONFIG.json
// CONFIG.json: {"port", "client_id", "client_secret", "redirect_uri", "private_jwk", "cookie_key"}
// Prints "listening on http://127.0.0.1:PORT" once the socket is bound.

import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [config.private_jwk] },
  cookies: { keys: [config.cookie_key] },
  scopes: ['openid', 'offline_access', 'email'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  features: {
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
  },
  // Every refresh rotates its token, as Gatehouse's do (a reused one ends the grant).
  rotateRefreshToken: () => true,
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@example.com`, email_verified: true };
      },
    };
  },
});

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
