// A second real authorization server for integray-auth's tests: panva's oidc-provider
// (OpenID certified), started by the tests on 127.0.0.1 for what django-oauth-toolkit
// lacks: client authentication with private_key_jwt (RFC 7523) for client credentials.
//
//   node server.mjs --jwks FILE [--port 0] [--access-token-ttl 3600]
//
// FILE holds the public JWK Set of the test's client key. Prints ONE JSON line on stdout
// with the endpoints and client ids, then serves until SIGTERM. GET /_test/counts answers
// {"token": {grant_type: n}} (what clients asked of the token endpoint).
//
// Clients:
//   integray-machine-jwt     client credentials, token_endpoint_auth_method private_key_jwt
//   integray-machine-basic   client credentials, client_secret_basic, secret "machine-basic-secret"
import fs from 'node:fs';
import Provider from 'oidc-provider';
import { option, serve } from './common.mjs';

const jwks = JSON.parse(fs.readFileSync(option('jwks'), 'utf8'));
const ttl = Number(option('access-token-ttl', '3600'));

serve({
  configure: (issuer) => new Provider(issuer, {
    clients: [
      {
        client_id: 'integray-machine-jwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'RS256',
        jwks,
        scope: 'read write',
      },
      {
        client_id: 'integray-machine-basic',
        client_secret: 'machine-basic-secret',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'read write',
      },
    ],
    scopes: ['openid', 'read', 'write'],
    features: {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: ttl },
    cookies: { keys: ['integray-auth-tests-only'] },
  }),
  describe: (issuer) => ({
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    jwt_client_id: 'integray-machine-jwt',
    basic_client_id: 'integray-machine-basic',
    basic_client_secret: 'machine-basic-secret',
    counts_url: `${issuer}/_test/counts`,
  }),
});
