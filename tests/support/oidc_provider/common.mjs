// What the tests' two oidc-provider servers (server.mjs, mcp_server.mjs) share: their command
// line, the listener on 127.0.0.1, the count of token requests by grant type that
// GET /_test/counts answers, the one JSON line on stdout, and the exit on SIGTERM.
import http from 'node:http';

const args = process.argv.slice(2);
export const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};

// configure(issuer) -> the Provider; describe(issuer) -> the ready line's fields after issuer
// and port; onGrant(params, grant) counts what else a server's tests ask about (counts.*).
export function serve({ configure, describe, counts = { token: {} }, onGrant = () => {} }) {
  const server = http.createServer();
  server.listen(Number(option('port', '0')), '127.0.0.1', () => {
    const { port } = server.address();
    const issuer = `http://127.0.0.1:${port}`;
    const provider = configure(issuer);
    provider.on('server_error', (ctx, err) => { console.error('oidc-provider server_error', err); });
    // Counted from the provider's own events: reading the request body here would race
    // oidc-provider's body parser.
    const count = (ctx) => {
      const params = (ctx.oidc && ctx.oidc.params) || {};
      const grant = params.grant_type || '?';
      counts.token[grant] = (counts.token[grant] || 0) + 1;
      onGrant(params, grant);
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
    process.stdout.write(JSON.stringify({ issuer, port, ...describe(issuer) }) + '\n');
  });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => { server.close(); process.exit(0); });
}
