// Test authorization server (oidc-provider) and a DPoP-validating protected API, on loopback.
//
// Usage: node server.mjs CONFIG.json
// CONFIG: { "clients": [oidc-provider client metadata...], "workload_issuer_jwk": {public JWK},
//           "workload_issuer": "https://workload.example", "access_token_ttl": 300 }
// Prints one JSON line on stdout when ready: { "issuer", "api", "resource" }.
//
// Standards served (oidc-provider 9): client_credentials, authorization_code + PKCE, refresh_token, DPoP
// (RFC 9449, nonces required), PAR (RFC 9126; per-client require_pushed_authorization_requests), RFC 7523
// private_key_jwt and client_secret_jwt, resource indicators (RFC 8707) and an RFC 8693 token-exchange grant
// whose subject token is a JWT signed by the "workload issuer" key.
// The API (RFC 9449 section 7): verifies the JWT access token against the provider's keys, the DPoP proof
// (signature with the embedded key, typ, htm, htu, iat, jti replay, ath, nonce) and its key's thumbprint
// against cnf.jkt; refuses a DPoP-bound token sent as Bearer; challenges with use_dpop_nonce.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const providerServer = createServer();
const parProviderServer = createServer();
const apiServer = createServer();
const issuer = `http://127.0.0.1:${await listen(providerServer)}`;
const parIssuer = `http://127.0.0.1:${await listen(parProviderServer)}`;
const api = `http://127.0.0.1:${await listen(apiServer)}`;
const resource = `${api}/`;

// ---------------------------------------------------------------- counters (read by the tests)
const stats = { token: {}, par: 0, authorization: 0, api: {} };
function bump(table, key) {
  table[key] = (table[key] || 0) + 1;
}

// ---------------------------------------------------------------- token exchange (RFC 8693)
const workloadKey = await jose.importJWK(config.workload_issuer_jwk, config.workload_issuer_jwk.alg || 'RS256');
const exchangeSubjects = new WeakMap();

async function tokenExchange(ctx) {
  const { params, client } = ctx.oidc;
  if (params.subject_token_type !== JWT_TOKEN_TYPE) {
    throw new errors.InvalidRequest(`unsupported subject_token_type; this server accepts ${JWT_TOKEN_TYPE}`);
  }
  if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new errors.InvalidRequest('requested_token_type must be an access token');
  }
  let subject;
  try {
    ({ payload: subject } = await jose.jwtVerify(params.subject_token, workloadKey, {
      issuer: config.workload_issuer,
      audience: ctx.oidc.provider.issuer,
    }));
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token rejected: ${err.code || err.message}`);
  }
  if (params.audience && params.audience !== resource) {
    throw new errors.InvalidTarget('unknown audience');
  }
  exchangeSubjects.set(ctx, subject);
  // Issue the token as a client-credentials token bound to the requested resource (and DPoP key, if any).
  const { handler } = await import('oidc-provider/lib/actions/grants/client_credentials.js');
  const helpers = await import('oidc-provider/lib/helpers/grants.js');
  const { provider } = ctx.oidc;
  const bound = Object.fromEntries(Object.entries(helpers).map(([k, fn]) => [k, fn.bind(undefined, provider)]));
  await handler(provider, bound, ctx);
  ctx.body = { ...ctx.body, issued_token_type: ACCESS_TOKEN_TYPE };
  void client;
}

// ---------------------------------------------------------------- provider
const resourceServer = {
  scope: 'api:read api:write',
  audience: resource,
  accessTokenFormat: 'jwt',
  accessTokenTTL: config.access_token_ttl || 300,
  jwt: { sign: { alg: 'ES256' } },
};

function makeProvider(url, requirePar) {
const provider = new Provider(url, {
  clients: config.clients,
  jwks: config.provider_jwks,
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  pkce: { required: () => false },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'],
  enabledJWA: {
    clientAuthSigningAlgValues: ['HS256', 'HS384', 'HS512', 'RS256', 'PS256', 'ES256', 'EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: requirePar },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf || resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        return resourceServer;
      },
    },
  },
  extraTokenClaims: async (ctx) => {
    const subject = ctx && exchangeSubjects.get(ctx);
    return subject ? { act: { sub: subject.sub, iss: subject.iss } } : undefined;
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  ttl: { AccessToken: config.access_token_ttl || 300, ClientCredentials: config.access_token_ttl || 300 },
  cookies: { keys: [randomBytes(16).toString('hex')] },
});
provider.registerGrantType(
  TOKEN_EXCHANGE,
  tokenExchange,
  ['subject_token', 'subject_token_type', 'audience', 'resource', 'requested_token_type', 'scope', 'actor_token', 'actor_token_type'],
  ['resource', 'audience'],
);

provider.on('grant.success', (ctx) => bump(stats.token, `${ctx.oidc.client.clientId} ${ctx.oidc.params.grant_type} ok`));
provider.on('grant.error', (ctx, err) => {
  const who = ctx.oidc.client?.clientId || ctx.oidc.params?.client_id || '?';
  bump(stats.token, `${who} ${ctx.oidc.params?.grant_type || '?'} ${err.error || err.name}`);
});
provider.on('pushed_authorization_request.success', () => { stats.par += 1; });
provider.on('authorization.accepted', () => { stats.authorization += 1; });
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// Scripted consent: the interaction logs "alice" in, then grants what the consent prompt says is missing.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: 'alice' } };
  } else {
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({
      accountId: details.session.accountId,
      clientId: params.client_id,
    });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  }
  const target = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.redirect(target);
});

// Test counters.
provider.use(async (ctx, next) => {
  if (ctx.path === '/_test/stats') { ctx.body = stats; return; }
  if (ctx.path === '/_test/reset' && ctx.method === 'POST') {
    stats.token = {}; stats.par = 0; stats.authorization = 0; stats.api = {};
    ctx.body = { ok: true };
    return;
  }
  await next();
});

return provider;
}

function serve(server, provider) {
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url.startsWith('/token')) bump(stats.token, 'requests');
    callback(req, res);
  });
}
serve(providerServer, makeProvider(issuer, false));
serve(parProviderServer, makeProvider(parIssuer, true));

// ---------------------------------------------------------------- the DPoP-validating API
const jwks = jose.createLocalJWKSet({
  keys: config.provider_jwks.keys.map(({ kty, crv, x, y, n, e, kid, alg, use }) => ({ kty, crv, x, y, n, e, kid, alg, use })),
});
const seenJti = new Map();
let apiNonce = randomBytes(16).toString('base64url');

function b64sha256(value) {
  return createHash('sha256').update(value).digest('base64url');
}

function challenge(res, status, scheme, error, description, extra = {}) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'www-authenticate': `${scheme} error="${error}", error_description="${description}"${scheme === 'DPoP' ? ', algs="ES256 EdDSA RS256 PS256"' : ''}`,
    ...extra,
  });
  res.end(JSON.stringify({ error, error_description: description }));
  bump(stats.api, `rejected ${error}: ${description}`);
}

async function handleApi(req, res) {
  const url = new URL(req.url, api);
  if (url.pathname === '/_test/rotate_nonce') {
    apiNonce = randomBytes(16).toString('base64url');
    res.end('{}');
    return;
  }
  const [scheme, value] = (req.headers.authorization || '').split(/\s+/, 2);
  if (!value || !/^(bearer|dpop)$/i.test(scheme)) {
    challenge(res, 401, 'Bearer', 'invalid_request', 'no access token');
    return;
  }
  let claims;
  try {
    ({ payload: claims } = await jose.jwtVerify(value, jwks, { audience: resource }));
    if (claims.iss !== issuer && claims.iss !== parIssuer) throw Object.assign(new Error('iss'), { code: 'iss' });
  } catch (err) {
    challenge(res, 401, /^dpop$/i.test(scheme) ? 'DPoP' : 'Bearer', 'invalid_token', `token: ${err.code}`);
    return;
  }
  const jkt = claims.cnf?.jkt;
  if (jkt && !/^dpop$/i.test(scheme)) {
    challenge(res, 401, 'DPoP', 'invalid_token', 'DPoP-bound token sent as Bearer');
    return;
  }
  if (jkt) {
    const proof = req.headers.dpop;
    if (!proof || Array.isArray(proof) || proof.includes(',')) {
      challenge(res, 401, 'DPoP', 'invalid_dpop_proof', 'exactly one DPoP proof required');
      return;
    }
    let header;
    let payload;
    try {
      ({ payload, protectedHeader: header } = await jose.jwtVerify(proof, jose.EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'],
        maxTokenAge: '60s',
        clockTolerance: 5,
      }));
    } catch (err) {
      challenge(res, 401, 'DPoP', 'invalid_dpop_proof', `proof: ${err.code}`);
      return;
    }
    const htu = `${url.origin}${url.pathname}`;
    const problems = [];
    if (payload.htm !== req.method) problems.push('htm');
    if (payload.htu !== htu) problems.push('htu');
    if (payload.ath !== b64sha256(value)) problems.push('ath');
    if (typeof payload.jti !== 'string' || !payload.jti) problems.push('jti');
    if ((await jose.calculateJwkThumbprint(header.jwk)) !== jkt) problems.push('cnf.jkt');
    if (problems.length) {
      challenge(res, 401, 'DPoP', 'invalid_dpop_proof', `mismatch: ${problems.join(' ')}`);
      return;
    }
    if (url.pathname.startsWith('/always-new-nonce')) apiNonce = randomBytes(16).toString('base64url');  // a broken server
    if (payload.nonce !== apiNonce) {
      challenge(res, 401, 'DPoP', 'use_dpop_nonce', 'a DPoP nonce is required', { 'dpop-nonce': apiNonce });
      return;
    }
    if (seenJti.has(payload.jti)) {
      challenge(res, 401, 'DPoP', 'invalid_dpop_proof', 'jti replayed');
      return;
    }
    seenJti.set(payload.jti, Date.now());
  }
  bump(stats.api, `accepted ${jkt ? 'DPoP' : 'Bearer'} ${req.method} ${url.pathname}`);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({
    ok: true, path: url.pathname, scheme: jkt ? 'DPoP' : 'Bearer', client_id: claims.client_id, sub: claims.sub,
    act: claims.act, scope: claims.scope,
  }));
}

apiServer.on('request', (req, res) => {
  req.resume();
  req.on('end', () => handleApi(req, res).catch((err) => {
    console.error('api error', err);
    res.writeHead(500);
    res.end('{}');
  }));
});

process.stdout.write(`${JSON.stringify({ issuer, par_issuer: parIssuer, api, resource })}\n`);
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
