/**
 * The codec server as the Temporal UI and CLI use it: a browser's CORS preflight and POST /decode with the UI's
 * headers and a bearer token, over real HTTP; key rotation (payloads sealed with the old key still decode, new ones
 * carry the new key's id); the `temporal` CLI decoding a history through it; and the dev server's UI pointed at it by
 * scripts/temporal.sh.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineCodec, pipelineDataConverter } from '../../src/codec/data-converter.js';
import { KEY_ID_METADATA, keyIdOf } from '../../src/codec/encryption-codec.js';
import { startConfiguredCodecServer } from '../../src/cli/ops-commands.js';
import { loadConfig } from '../../src/config.js';
import type { RunningCodecServer } from '../../src/ops/codec-server.js';
import { temporalAddress } from '../support/pipeline.js';
import { freePort, repoRoot } from '../support/servers.js';

const execFileAsync = promisify(execFile);
const temporalCli = join(repoRoot, '.tools/bin/temporal');
const UI_ORIGIN = 'http://localhost:8233';
const token = randomBytes(24).toString('hex');
const oldKey = randomBytes(32).toString('base64');
const newKey = randomBytes(32).toString('base64');
const secret = { fileId: 'acme-recon-2026-11-21', amount: '18432110.55' };

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  ...(p.data ? { data: b64(p.data) } : {}),
});
const fromJson = (p: { metadata: Record<string, string>; data?: string }): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  ...(p.data !== undefined ? { data: new Uint8Array(Buffer.from(p.data, 'base64')) } : {}),
});
const keyIdIn = (p: { metadata: Record<string, string> }): string => Buffer.from(p.metadata[KEY_ID_METADATA] ?? '', 'base64').toString();

describe('codec server', () => {
  // Rotation: the old key stays listed (as PAYLOAD_KEY), the new one is named and encrypts.
  const rotatedEnv = {
    PAYLOAD_KEY: oldKey,
    PAYLOAD_KEYS: `2027-01:${newKey}`,
    PAYLOAD_KEY_ID: '2027-01',
    CODEC_SERVER_TOKEN: token,
  };
  const rotated = loadConfig(rotatedEnv);
  let server: RunningCodecServer;
  let url: string;

  beforeAll(async () => {
    const config = loadConfig({ ...rotatedEnv, CODEC_SERVER_ADDRESS: `127.0.0.1:${await freePort()}` });
    server = await startConfiguredCodecServer(config);
    url = server.url;
  });
  afterAll(async () => server?.close());

  /** What the UI's fetch sends for /decode (Content-Type, X-Namespace, and Authorization with "pass access token"). */
  const uiPost = (path: string, body: unknown, headers: Record<string, string> = { Authorization: `Bearer ${token}` }) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { Origin: UI_ORIGIN, 'Content-Type': 'application/json', 'X-Namespace': 'default', ...headers },
      body: JSON.stringify(body),
    });

  it("answers the browser's CORS preflight for the UI's origin, without a token, and refuses another origin", async () => {
    const preflight = (origin: string) =>
      fetch(`${url}/decode`, {
        method: 'OPTIONS',
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,x-namespace' },
      });
    const ok = await preflight(UI_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
    const allowed = (ok.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'x-namespace']));
    const other = await preflight('https://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('decodes, for the UI, payloads sealed with the old key and with the new one; refuses a missing or wrong token', async () => {
    const beforeRotation = pipelineCodec({ PAYLOAD_KEY: oldKey });
    const afterRotation = pipelineCodec(rotated);
    if (!beforeRotation || !afterRotation) throw new Error('no codec');
    const plain = [defaultPayloadConverter.toPayload(secret), defaultPayloadConverter.toPayload('second')];
    const [old] = await beforeRotation.encode([plain[0] as Payload]);
    const [fresh] = await afterRotation.encode([plain[1] as Payload]);
    if (!old || !fresh) throw new Error('nothing encoded');
    expect(new TextDecoder().decode(old.metadata?.[KEY_ID_METADATA])).toBe(keyIdOf(Buffer.from(oldKey, 'base64')));
    expect(new TextDecoder().decode(fresh.metadata?.[KEY_ID_METADATA])).toBe('2027-01');

    const response = await uiPost('/decode', { payloads: [toJson(old), toJson(fresh)] });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const body = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data?: string }> };
    expect(body.payloads.map((p) => defaultPayloadConverter.fromPayload(fromJson(p)))).toEqual([secret, 'second']);

    expect((await uiPost('/decode', { payloads: [toJson(old)] }, {})).status).toBe(401);
    expect((await uiPost('/decode', { payloads: [toJson(old)] }, { Authorization: 'Bearer wrong-token-of-some-length' })).status).toBe(401);
    expect((await uiPost('/decode', 'not payloads')).status).toBe(400);
  });

  it('encodes with the new key only: its payloads name it, and a process holding just the old key cannot read them', async () => {
    const response = await uiPost('/api/v1/encode', { payloads: [toJson(defaultPayloadConverter.toPayload(secret))] });
    expect(response.status).toBe(200);
    const [sealed] = ((await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data?: string }> }).payloads;
    if (!sealed) throw new Error('nothing encoded');
    expect(keyIdIn(sealed)).toBe('2027-01');
    await expect(pipelineCodec({ PAYLOAD_KEY: oldKey })?.decode([fromJson(sealed)])).rejects.toThrow(/does not hold/);
    const [back] = (await pipelineCodec(rotated)?.decode([fromJson(sealed)])) ?? [];
    expect(defaultPayloadConverter.fromPayload(back as Payload)).toEqual(secret);
  });

  it('lets the temporal CLI show an encrypted history in clear (--codec-endpoint, --codec-auth)', async () => {
    const connection = await Connection.connect({ address: temporalAddress() });
    try {
      const dataConverter = pipelineDataConverter(rotated);
      if (!dataConverter) throw new Error('no data converter');
      const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default', dataConverter });
      const workflowId = `codec-cli-${randomUUID()}`;
      // Nobody polls this queue: the start event alone holds the encrypted input.
      const handle = await client.workflow.start('dailyWorkflow', { taskQueue: `nobody-${randomUUID()}`, workflowId, args: [secret] });
      const show = async (...codec: string[]): Promise<string> =>
        (await execFileAsync(temporalCli, ['workflow', 'show', '--workflow-id', workflowId, '--address', temporalAddress(), '--output', 'json', ...codec])).stdout;
      const raw = await show();
      expect(raw).not.toContain(secret.amount);
      expect(raw).not.toContain(b64(new TextEncoder().encode(JSON.stringify(secret))));
      const decoded = await show('--codec-endpoint', url, '--codec-auth', `Bearer ${token}`);
      const clear = decoded.includes(secret.amount) || decoded.includes(b64(new TextEncoder().encode(JSON.stringify(secret))));
      expect(clear).toBe(true);
      await handle.terminate('test done');
    } finally {
      await connection.close();
    }
  });
});

describe('the local stack with PAYLOAD_KEY', () => {
  it("starts the dev server's UI with the codec endpoint (scripts/temporal.sh, TEMPORAL_UI_CODEC_ENDPOINT)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'temporal-ui-codec-'));
    const [port, uiPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEMPORAL_PORT: String(port),
      TEMPORAL_UI_PORT: String(uiPort),
      TEMPORAL_DATA_DIR: dataDir,
      TEMPORAL_UI_CODEC_ENDPOINT: 'http://127.0.0.1:8089',
      TEMPORAL_WATCH_PID: String(process.pid),
      TEMPORAL_DATA_DIR_TEMPORARY: '1',
    };
    delete env.TEMPORAL_HEADLESS;
    const script = join(repoRoot, 'scripts/temporal.sh');
    try {
      const started = await execFileAsync('bash', [script, 'start'], { env, cwd: repoRoot });
      expect(started.stdout + started.stderr).toContain('decoding through http://127.0.0.1:8089');
      const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
      expect(settings.Codec?.Endpoint).toBe('http://127.0.0.1:8089');
    } finally {
      await execFileAsync('bash', [script, 'stop'], { env, cwd: repoRoot }).catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
