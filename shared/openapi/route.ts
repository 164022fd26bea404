import type { HttpResponse, Route } from '../fc/adapters/http.ts';

/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of the routes of the function that answers.
 *
 * Bundles carry their function's document as one string constant (shared/openapi/text.ts, evaluated
 * on the first request, not at cold start), Brotli-compressed and base64
 * encoded (scripts/build.ts replaces `__FCN_OPENAPI_BR__`): ~5 KB instead of ~16 KB of JSON per
 * bundle, nothing parsed or decompressed at cold start (the first request pays ~0.1 ms), and
 * neither zod's JSON Schema generator nor the route table (shared/openapi/table.ts) is bundled.
 * Run from source (tsx, vitest), the committed openapi.json is read and cut to the function's routes.
 *
 * Public like /healthz: the contract is published anyway (openapi.json in the repository) and the
 * document holds no configuration, no caller data and nothing about the deployment.
 */

export const openapiRoute: Route = {
  method: 'GET',
  path: '/openapi.json',
  public: true,
  async handler(_req, { rt }): Promise<HttpResponse> {
    const { documentText } = await import('./text.ts');
    return {
      statusCode: 200,
      // It changes only with a deploy; a short cache spares repeated fetches by client generators.
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=300' },
      body: documentText(rt.name),
      isBase64Encoded: false,
    };
  },
};
