// panva's oidc-provider as the authorization server of an MCP server, for integray-auth's
// `add --resource` / `mcp proxy` tests: dynamic client registration (RFC 7591) open to
// anyone, resource indicators (RFC 8707) with the MCP server as the one resource server,
// refresh tokens for every client allowed the grant, and its built-in login and consent
// pages (any login and password), which the tests' Chromium fills in.
//
//   node mcp_server.mjs --resource URL [--port 0] [--access-token-ttl 3600]
//
// Prints ONE JSON line on stdout (issuer, port, introspection client), then serves until
// SIGTERM. GET /_test/counts answers {"token": {grant_type: n}, "resources": {grant_type: [resource, ...]}}.
import Provider from 'oidc-provider';
import { option, serve } from './common.mjs';

const resource = option('resource');
const ttl = Number(option('access-token-ttl', '3600'));
const counts = { token: {}, resources: {} };

serve({
  counts,
  configure: (issuer) => new Provider(issuer, {
    clients: [
      {
        // The MCP server's own client: it introspects the tokens it is given (RFC 7662).
        client_id: 'mcp-resource-server',
        client_secret: 'mcp-resource-server-secret',
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: ['openid', 'offline_access', 'mcp:read', 'mcp:write'],
    features: {
      registration: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => false,
        getResourceServerInfo: (ctx, indicator) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
          return { scope: 'mcp:read mcp:write', audience: resource, accessTokenTTL: ttl, accessTokenFormat: 'opaque' };
        },
      },
    },
    async issueRefreshToken(ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    pkce: { required: () => true },
    cookies: { keys: ['integray-auth-tests-only'] },
  }),
  onGrant: (params, grant) => (counts.resources[grant] = counts.resources[grant] || []).push(params.resource || null),
  describe: (issuer) => ({
    introspection_endpoint: `${issuer}/token/introspection`,
    introspection_client_id: 'mcp-resource-server',
    introspection_client_secret: 'mcp-resource-server-secret',
    counts_url: `${issuer}/_test/counts`,
  }),
});
