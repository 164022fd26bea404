import http from 'node:http';
import https from 'node:https';
import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';
import pRetry from 'p-retry';
import { monotonicMs } from '../clock.ts';
import { type Credentials, MAX_BATCH_CONCURRENCY } from '../config.ts';
import { NotifyError } from '../errors.ts';
import { type Classified, classifyAnswer } from './classify.ts';
import { type ProviderRequest, requestUrl } from './request.ts';
import { sandboxAdapter } from './sandbox.ts';

/** The package.json version, written into each bundle by scripts/build.ts (esbuild `define`); `dev` when run from source. */
declare const __FCN_VERSION__: string | undefined;
const USER_AGENT = `fc-notify/${typeof __FCN_VERSION__ === 'string' ? __FCN_VERSION__ : 'dev'}`;

/**
 * The one HTTP client both channels share: one keep-alive agent per instance (module scope, so
 * warm invocations reuse its sockets), a total deadline per attempt, and retries only where the provider surely
 * did not act (connection refused, DNS failure, gateway flow control).
 */

/**
 * Sockets per agent (per host). It is sized to the largest BATCH_CONCURRENCY the config accepts,
 * so one batch never waits for a socket; several requests of one instance together (HTTP with
 * instance concurrency, two batches at once) still may, and a job that waited too long for one
 * is reported as not sent (see deadlineTransport).
 */
export const SOCKET_POOL_SIZE = MAX_BATCH_CONCURRENCY;

// Below the usual 5 s server keep-alive, so an idle socket is closed by us, not reset under us.
const agentOptions = { keepAlive: true, scheduling: 'lifo' as const, timeout: 4000, maxSockets: SOCKET_POOL_SIZE };
const httpAgent = new http.Agent(agentOptions);
const httpsAgent = new https.Agent(agentOptions);

export interface ProviderResult extends Classified {
  attempts: number;
  latencyMs: number;
}

export interface ProviderClientOptions {
  credentials: Credentials;
  timeoutMs: number;
  retries: number;
  /** Minimum backoff between attempts (ms); jittered, doubling. Tests shorten it. */
  retryDelayMs?: number;
  /** Adds authentication headers; the default handles AppCode. Signature mode plugs in here. */
  authenticate?: (req: ProviderRequest, url: string) => Record<string, string>;
}

export interface ProviderClient {
  send(req: ProviderRequest): Promise<ProviderResult>;
}

/** Network error codes raised before any byte of the request could reach the provider. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * The provider's certificate was refused during the TLS handshake, which completes before the
 * request is written: nothing was sent. Not retried either: the certificate will not change
 * within a retry's delay, and a refused certificate may mean someone is in the middle.
 */
const TLS_REFUSED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Our own code for a request destroyed while it still waited for a socket of the pool: no byte
 * left this process, so nothing was sent.
 */
export const NO_SOCKET_CODE = 'ENOSOCKET';

function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown; errors?: Array<{ code?: unknown }> } };
  const candidates = [e?.cause?.code, e?.cause?.errors?.[0]?.code, e?.code];
  for (const c of candidates) if (typeof c === 'string' && c !== 'ERR_BAD_REQUEST') return c;
  return undefined;
}

class RetrySignal extends Error {
  constructor(readonly result: Classified) {
    super('retry');
  }
}

/** What went wrong on the wire, as a classification. Never carries the axios error (it holds our headers). */
export function classifyTransportError(err: unknown): Classified {
  const code = networkCode(err) ?? 'UNKNOWN';
  if (NOT_SENT_CODES.has(code)) {
    return {
      status: 'failed',
      provider: { code, message: 'could not connect to the provider' },
      error: new NotifyError('PROVIDER_ERROR', `could not reach the provider (${code}); nothing was sent`, { retryable: true }),
      safeToRetry: true,
    };
  }
  if (TLS_REFUSED_CODES.has(code)) {
    return {
      status: 'failed',
      provider: { code, message: 'the provider certificate was refused' },
      error: new NotifyError('PROVIDER_ERROR', `the provider's TLS certificate was refused (${code}); nothing was sent`),
      safeToRetry: false,
    };
  }
  if (code === NO_SOCKET_CODE) {
    // Retryable by whoever handed us the job (HTTP caller, redelivery, the next timer tick), not
    // here: the pool is full, and waiting again at once would only make the queue longer.
    return {
      status: 'failed',
      provider: { code, message: 'no free connection to the provider' },
      error: new NotifyError(
        'PROVIDER_ERROR',
        'no connection to the provider became free in time (this instance is saturated); nothing was sent',
        { retryable: true },
      ),
      safeToRetry: false,
    };
  }
  const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || code === 'ABORT_ERR';
  const why = timedOut ? 'timed out' : code === 'ECONNRESET' || code === 'EPIPE' ? 'connection reset' : `transport error ${code}`;
  return {
    status: 'unknown',
    provider: { code, message: why },
    error: new NotifyError(
      'OUTCOME_UNKNOWN',
      `the provider did not answer (${why}) after the request was sent; it may or may not have been delivered, so it is not retried automatically`,
    ),
    safeToRetry: false,
  };
}

function withoutSecret(text: string, secret: string | undefined): string {
  return secret && text.includes(secret) ? text.replaceAll(secret, '[REDACTED]') : text;
}

/** Requests whose deadline (connect + request + answer) passed, so a body cut short reads as a timeout. */
const timedOutRequests = new WeakSet<object>();

/**
 * The transport under axios (its documented `transport` option: an object with `request()` like
 * node:https): Node's own http/https, plus the attempt's total deadline. The deadline covers one
 * socket's work — connecting, writing the request, reading the whole answer — and starts when
 * the agent hands the request a socket (`socket` event), not while it waits in the pool's queue:
 * a wait for a socket is not time the provider had. When it passes, the request is destroyed with
 * ETIMEDOUT, whether it is still connecting, waiting for headers or reading a body that trickles
 * in. A request still without a socket after `timeoutMs` of waiting is destroyed with ENOSOCKET
 * (nothing was sent). One timer does both: `refresh()` restarts it when the socket comes. An
 * AbortSignal would do the same, but axios subscribes to it with addEventListener on every request
 * (~50 µs per send measured, most of a warm call's overhead over a plain axios GET).
 */
export function deadlineTransport(timeoutMs: number) {
  return {
    request(options: https.RequestOptions, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
      const req = (options.protocol === 'https:' ? https : http).request(options, onResponse);
      let assigned = false;
      const timer = setTimeout(() => {
        if (!assigned) {
          req.destroy(Object.assign(new Error(`no free socket within ${timeoutMs} ms`), { code: NO_SOCKET_CODE }));
          return;
        }
        timedOutRequests.add(req);
        req.destroy(Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      }, timeoutMs);
      req.once('socket', () => {
        assigned = true;
        timer.refresh();
      });
      req.once('close', () => clearTimeout(timer));
      return req;
    },
  };
}

/** Whether our deadline ended the request behind this axios error (the error carries its request). */
function deadlinePassed(err: unknown): boolean {
  const req = (err as { request?: unknown } | null)?.request;
  return typeof req === 'object' && req !== null && timedOutRequests.has(req);
}

export function createProviderClient(options: ProviderClientOptions): ProviderClient {
  const { credentials } = options;
  // `new Axios(config)` rather than axios.create(): create() copies the library's defaults into
  // the instance (header groups per method, form-data classes, XSRF names, transitional flags),
  // and every request deep-merges them again; none of them applies to a bodiless GET from Node.
  // What they would have set is set here: no transforms, every status resolves (classify reads
  // it), answers as text.
  const instance: AxiosInstance = new axios.Axios({
    // Pinned: the build leaves axios's fetch adapter out (it would load undici at every cold start).
    adapter: credentials.kind === 'sandbox' ? sandboxAdapter : 'http',
    transport: deadlineTransport(options.timeoutMs),
    httpAgent,
    httpsAgent,
    proxy: false,
    maxRedirects: 0,
    responseType: 'text',
    transformRequest: [],
    transformResponse: [],
    validateStatus: null,
    maxContentLength: 256 * 1024,
  }) as AxiosInstance;

  const appCodeHeaders = (): Record<string, string> =>
    credentials.kind === 'appcode' ? { Authorization: `APPCODE ${credentials.appCode}` } : {};
  const authenticate = options.authenticate ?? appCodeHeaders;

  const secret =
    credentials.kind === 'appcode' ? credentials.appCode : credentials.kind === 'signature' ? credentials.appSecret : undefined;

  // AppCode headers do not change from one request to the next: built once (axios copies them
  // into its own header object per request and never writes to this one).
  const fixedHeaders = options.authenticate ? undefined : { Accept: 'application/json', 'User-Agent': USER_AGENT, ...appCodeHeaders() };

  async function attempt(req: ProviderRequest): Promise<Classified> {
    const url = requestUrl(req);
    const config: AxiosRequestConfig = {
      method: 'GET',
      url,
      headers: fixedHeaders ?? { Accept: 'application/json', 'User-Agent': USER_AGENT, ...authenticate(req, url) },
    };
    let result: Classified;
    try {
      const res = await instance.request<string>(config);
      // A careless gateway or vendor may echo our Authorization header (in X-Ca-Error-Message, a
      // body, even a Code): remove the secret before the answer is read, so it cannot reach
      // provider messages, error codes, HTTP answers, logs or the idempotency store.
      const body = withoutSecret(typeof res.data === 'string' ? res.data : String(res.data), secret);
      const headers: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(res.headers as Record<string, unknown>)) {
        headers[k] =
          typeof v === 'string' ? withoutSecret(v, secret) : Array.isArray(v) ? v.map((x) => withoutSecret(String(x), secret)) : v;
      }
      result = classifyAnswer(req.channel, res.status, headers, body);
    } catch (err) {
      // Past the deadline, whatever the socket said last (a body cut by the transport surfaces as
      // an aborted stream, not as ETIMEDOUT), the answer is: timed out. Time spent waiting for a
      // socket does not count: that request had not left yet.
      result = classifyTransportError(deadlinePassed(err) ? { code: 'ETIMEDOUT' } : err);
    }
    return result;
  }

  /**
   * Attempts 2… for a send that surely did not reach the provider (refused, DNS, flow control).
   * p-retry's first call hands back the failure already known, so its backoff comes before the
   * second attempt; a send that succeeds at once (nearly all) never pays for p-retry.
   */
  async function retry(req: ProviderRequest, first: Classified, counted: () => void): Promise<Classified> {
    let known: Classified | undefined = first;
    try {
      return await pRetry(
        async () => {
          if (known) {
            const failure = known;
            known = undefined;
            throw new RetrySignal(failure);
          }
          counted();
          const r = await attempt(req);
          if (r.safeToRetry) throw new RetrySignal(r);
          return r;
        },
        {
          retries: options.retries,
          minTimeout: options.retryDelayMs ?? 200,
          maxTimeout: 2000,
          factor: 2,
          randomize: true,
          shouldRetry: ({ error }) => error instanceof RetrySignal,
        },
      );
    } catch (err) {
      if (!(err instanceof RetrySignal)) throw err;
      return err.result;
    }
  }

  return {
    async send(req) {
      const started = monotonicMs();
      let attempts = 1;
      let result = await attempt(req);
      if (result.safeToRetry && options.retries > 0) result = await retry(req, result, () => (attempts += 1));
      return { ...result, attempts, latencyMs: Math.round(monotonicMs() - started) };
    },
  };
}
