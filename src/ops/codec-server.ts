/**
 * A codec server: Temporal's remote codec protocol over HTTP, so the Web UI and the `temporal` CLI show the
 * payloads the pipeline encrypts. POST `.../encode` and `.../decode` take and return `{"payloads": [...]}`
 * (Payloads as protobuf JSON: metadata values and data in base64); only the last path segment counts, so it can
 * be mounted under any prefix. Browsers reach it across origins: preflights are answered for the allowed origins,
 * without a token (browsers never send one on a preflight); every encode and decode needs the bearer token when one
 * is configured.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { localUrl } from '../config.js';

export interface CodecServerOptions {
  codec: PayloadCodec;
  host: string;
  port: number;
  /** Required as `Authorization: Bearer <token>` on encode and decode when set. */
  token?: string;
  /** Origins allowed to call from a browser (the UI's); `*` allows any. */
  allowedOrigins: string[];
  /** Largest request body accepted (default 16 MiB: a payload may reach 2 MB, and the UI batches them). */
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  server: Server;
  /** `http://host:port`, what `--ui-codec-endpoint` and `--codec-endpoint` take. */
  url: string;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string> | null | undefined;
  data?: string | null | undefined;
}

/** Headers the UI and the CLI send: Content-Type, X-Namespace, and Authorization when a token is passed. */
const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  ...(p.data !== undefined && p.data !== null ? { data: new Uint8Array(Buffer.from(p.data, 'base64')) } : {}),
});

const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  ...(p.data !== undefined && p.data !== null ? { data: Buffer.from(p.data).toString('base64') } : {}),
});

const isBase64 = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v);

const parsePayloads = (body: string): Payload[] => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BadRequest(400, 'body is not JSON');
  }
  const payloads = typeof parsed === 'object' && parsed !== null ? (parsed as { payloads?: unknown }).payloads : undefined;
  if (!Array.isArray(payloads)) throw new BadRequest(400, 'body must be {"payloads": [...]}');
  return payloads.map((p: unknown, i) => {
    const { metadata, data } = (p ?? {}) as JsonPayload;
    const metadataOk = metadata === undefined || metadata === null || (typeof metadata === 'object' && Object.values(metadata).every(isBase64));
    if (!metadataOk || !(data === undefined || data === null || isBase64(data))) {
      throw new BadRequest(400, `payload ${i}: metadata values and data must be base64 strings`);
    }
    return fromJson({ metadata, data });
  });
};

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
/** Constant-time comparison of the bearer token (digests have equal length whatever was sent). */
const tokenMatches = (header: string | undefined, token: string): boolean => {
  const sent = /^Bearer\s+(.+)$/i.exec(header ?? '')?.[1]?.trim() ?? '';
  return timingSafeEqual(digest(sent), digest(token));
};

const readBody = (req: IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BadRequest(413, `body over ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

export const codecRequestHandler = (o: CodecServerOptions) => {
  const limit = o.maxBodyBytes ?? 16 << 20;
  const anyOrigin = o.allowedOrigins.includes('*');
  const corsHeaders = (origin: string | undefined): Record<string, string> =>
    origin !== undefined && (anyOrigin || o.allowedOrigins.includes(origin))
      ? {
          'Access-Control-Allow-Origin': origin,
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': ALLOWED_HEADERS,
          // The UI may send cookies (its "include credentials" setting); an echoed origin permits that.
          'Access-Control-Allow-Credentials': 'true',
          'Access-Control-Max-Age': '600',
          Vary: 'Origin',
        }
      : { Vary: 'Origin' };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    const cors = corsHeaders(origin);
    const send = (status: number, body?: unknown): void => {
      const headers: Record<string, string> = { ...cors };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      res.writeHead(status, headers).end(body === undefined ? undefined : JSON.stringify(body));
    };
    const action = new URL(req.url ?? '/', 'http://codec').pathname.split('/').filter(Boolean).at(-1);
    try {
      if (req.method === 'OPTIONS') {
        // A preflight: allowed when the origin is; the browser then sends the real request.
        send(origin !== undefined && cors['Access-Control-Allow-Origin'] === undefined ? 403 : 204);
        return;
      }
      if (req.method === 'GET' && action === 'health') return send(200, { ok: true });
      if (action !== 'encode' && action !== 'decode') throw new BadRequest(404, 'only /encode and /decode');
      if (req.method !== 'POST') throw new BadRequest(405, 'use POST');
      if (origin !== undefined && cors['Access-Control-Allow-Origin'] === undefined) throw new BadRequest(403, `origin ${origin} is not allowed`);
      if (o.token !== undefined && !tokenMatches(req.headers.authorization, o.token)) throw new BadRequest(401, 'missing or wrong bearer token');
      const payloads = parsePayloads(await readBody(req, limit));
      let converted: Payload[];
      try {
        converted = action === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
      } catch (error) {
        // The protocol answers codec errors (unknown key, tampered payload) with 400.
        throw new BadRequest(400, error instanceof Error ? error.message : String(error));
      }
      send(200, { payloads: converted.map(toJson) });
      o.log?.(`${action} ${payloads.length} payload(s) for namespace ${String(req.headers['x-namespace'] ?? '-')}`);
    } catch (error) {
      const status = error instanceof BadRequest ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      if (status === 500) o.log?.(`error: ${message}`);
      if (!res.headersSent) send(status, { error: message });
    }
  };
};

/** Starts the codec server; resolves once it listens. */
export const startCodecServer = async (o: CodecServerOptions): Promise<RunningCodecServer> => {
  const handle = codecRequestHandler(o);
  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: localUrl(o.host, port),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
};
