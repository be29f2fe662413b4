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
import http from 'node:http';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const jwks = JSON.parse(fs.readFileSync(option('jwks'), 'utf8'));
const ttl = Number(option('access-token-ttl', '3600'));
const counts = { token: {} };

const server = http.createServer();
server.listen(Number(option('port', '0')), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
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
  });
  provider.on('server_error', (ctx, err) => { console.error('oidc-provider server_error', err); });
  // Counted from the provider's own events: reading the request body here would race
  // oidc-provider's body parser.
  const count = (ctx) => {
    const grant = (ctx.oidc && ctx.oidc.params && ctx.oidc.params.grant_type) || '?';
    counts.token[grant] = (counts.token[grant] || 0) + 1;
  };
  provider.on('grant.success', count);
  provider.on('grant.error', count);
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'GET' && req.url === '/_test/counts') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(counts));
      return;
    }
    callback(req, res);
  });
  process.stdout.write(JSON.stringify({
    issuer,
    port,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    jwt_client_id: 'integray-machine-jwt',
    basic_client_id: 'integray-machine-basic',
    basic_client_secret: 'machine-basic-secret',
    counts_url: `${issuer}/_test/counts`,
  }) + '\n');
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { server.close(); process.exit(0); });
