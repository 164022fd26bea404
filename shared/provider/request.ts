import type { Channel } from '../jobs.ts';

/** Query pairs in the order the vendor documents them. */
export type QueryPairs = ReadonlyArray<readonly [string, string]>;

export interface ProviderRequest {
  channel: Channel;
  /** Endpoint without query, e.g. https://largesms.market.alicloudapi.com/largesms */
  endpoint: string;
  query: QueryPairs;
}

/**
 * RFC 3986 percent-encoding of UTF-8: every byte outside the unreserved set is encoded, so
 * `&`, `#`, `%`, `+`, `|`, spaces, CR/LF and CJK reach the provider as text and decode back to
 * exactly what was given (a `+` is never read as a space, no value can add a parameter).
 */
export function encodeComponent(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function encodeQuery(query: QueryPairs): string {
  return query.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
}

export function requestUrl(req: ProviderRequest): string {
  const q = encodeQuery(req.query);
  return q === '' ? req.endpoint : `${req.endpoint}${req.endpoint.includes('?') ? '&' : '?'}${q}`;
}

/** Long SMS: `param` (values joined by `|`), `phone`, `skin`, optional `sign`. */
export function longSmsRequest(
  endpoint: string,
  job: { phone: string; skin: string; sign?: string | undefined },
  params: readonly string[],
): ProviderRequest {
  const query: Array<[string, string]> = [
    ['param', params.join('|')],
    ['phone', job.phone],
    ['skin', job.skin],
  ];
  if (job.sign !== undefined) query.push(['sign', job.sign]);
  return { channel: 'sms', endpoint, query };
}

/** Voice notify: `content` (spoken text) and `mobile`. */
export function voiceRequest(endpoint: string, job: { phone: string; content: string }): ProviderRequest {
  return {
    channel: 'voice',
    endpoint,
    query: [
      ['content', job.content],
      ['mobile', job.phone],
    ],
  };
}
