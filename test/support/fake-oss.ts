import { createHmac } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A real local HTTP server implementing OSS GET and PUT object (path style: /<bucket>/<key>).
 * It verifies the V1 header signature itself (its own implementation of the documented
 * string-to-sign, not the project's) and the STS security token, and records every request.
 */

export interface FakeOssOptions {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** Bytes per chunk when serving an object (small chunks prove the reader streams). */
  chunkBytes?: number;
}

export interface FakeOss {
  endpoint: string;
  objects: Map<string, Buffer>;
  requests: Array<{ method: string; path: string; ok: boolean; chunked: boolean }>;
  /** GET pauses after this many bytes until `release()` (or 5 s); `releasedBy` tells which. */
  gate(afterBytes: number): { release: () => void; releasedBy: () => 'release' | 'timeout' | undefined };
  /** The next GET drops its connection after this many body bytes (a connection cut mid-file). */
  cutAfter(bytes: number): void;
  close(): Promise<void>;
}

function expectedSignature(secret: string, req: IncomingMessage, resource: string): string {
  const h = req.headers;
  const ossHeaders = Object.keys(h)
    .filter((k) => k.startsWith('x-oss-'))
    .sort()
    .map((k) => `${k}:${String(h[k]).trim()}\n`)
    .join('');
  const toSign = [req.method, h['content-md5'] ?? '', h['content-type'] ?? '', h.date ?? ''].join('\n') + '\n' + ossHeaders + resource;
  return createHmac('sha1', secret).update(toSign).digest('base64');
}

function deny(res: ServerResponse, code: string): void {
  res.writeHead(403, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>denied</Message></Error>`);
}

export async function startFakeOss(options: FakeOssOptions): Promise<FakeOss> {
  const objects = new Map<string, Buffer>();
  const requests: FakeOss['requests'] = [];
  const sockets = new Set<Socket>();
  let cutAt: number | undefined;
  let gate: { afterBytes: number; wait: Promise<'release' | 'timeout'>; release: () => void; by?: 'release' | 'timeout' } | undefined;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://oss.local');
    const [, bucket, ...rest] = url.pathname.split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const resource = `/${bucket}/${key}`;
    const auth = String(req.headers.authorization ?? '');
    const ok =
      auth === `OSS ${options.accessKeyId}:${expectedSignature(options.accessKeySecret, req, resource)}` &&
      (options.securityToken === undefined || req.headers['x-oss-security-token'] === options.securityToken) &&
      Math.abs(Date.parse(String(req.headers.date)) - Date.now()) < 15 * 60 * 1000;
    requests.push({ method: req.method ?? '', path: resource, ok, chunked: req.headers['transfer-encoding'] === 'chunked' });
    if (!ok) {
      req.resume();
      return deny(res, 'SignatureDoesNotMatch');
    }
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      objects.set(resource, Buffer.concat(chunks));
      res.writeHead(200, { etag: '"fake"' });
      return res.end();
    }
    const body = objects.get(resource);
    if (req.method !== 'GET' || !body) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      return res.end('<Error><Code>NoSuchKey</Code></Error>');
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    const step = options.chunkBytes ?? 64 * 1024;
    const cut = cutAt;
    cutAt = undefined;
    for (let at = 0; at < body.length; at += step) {
      if (cut !== undefined && at >= cut) {
        res.socket?.destroy();
        return;
      }
      if (gate && at >= gate.afterBytes && !gate.by) gate.by = await gate.wait;
      if (!res.write(body.subarray(at, at + step))) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    objects,
    requests,
    gate(afterBytes) {
      let release!: () => void;
      const wait = new Promise<'release' | 'timeout'>((resolve) => {
        release = () => resolve('release');
        setTimeout(() => resolve('timeout'), 5000).unref();
      });
      gate = { afterBytes, wait, release };
      return { release, releasedBy: () => gate?.by };
    },
    cutAfter(bytes) {
      cutAt = bytes;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
