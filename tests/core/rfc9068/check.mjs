// Validates access tokens with oauth4webapi's validateJwtAccessToken (RFC 9068),
// as a resource server written in JavaScript would. Reads one JSON document on
// stdin: {"issuer", "audience", "jwks", "tokens": [...]}; writes one result per
// token on stdout: {"ok": true, "claims": {...}} or {"ok": false, "error": "..."}.
import * as oauth from 'oauth4webapi'

let text = ''
for await (const chunk of process.stdin) text += chunk
const input = JSON.parse(text)
const as = { issuer: input.issuer, jwks_uri: 'https://issuer.invalid/.well-known/jwks.json' }
const options = {
  // The JWKS comes from the test, not from the network.
  [oauth.customFetch]: async () =>
    new Response(JSON.stringify(input.jwks), { headers: { 'content-type': 'application/json' } }),
}
const results = []
for (const token of input.tokens) {
  const request = new Request('https://api.invalid/resource', {
    headers: { authorization: `Bearer ${token}` },
  })
  try {
    const claims = await oauth.validateJwtAccessToken(as, request, input.audience, options)
    results.push({ ok: true, claims })
  } catch (error) {
    results.push({ ok: false, error: `${error.name}: ${error.message}` })
  }
}
process.stdout.write(JSON.stringify(results))
