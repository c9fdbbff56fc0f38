/**
 * Operator settings: bind addresses, shutdown grace, payload key rotation (parsed by src/config.ts, turned into one
 * codec by src/codec/data-converter.ts), and the schedule's second firing.
 */
import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { pipelineCodec } from '../../src/codec/data-converter.js';
import { KEY_ID_METADATA, keyIdOf } from '../../src/codec/encryption-codec.js';
import { ConfigError, loadConfig, localUrl } from '../../src/config.js';
import { secondFiringTime } from '../../src/domain/schedule-time.js';

const key = (): string => randomBytes(32).toString('base64');
const keyIdOfPayload = (p: Payload | undefined): string => new TextDecoder().decode(p?.metadata?.[KEY_ID_METADATA]);

describe('operator configuration', () => {
  it('binds metrics and the read API to loopback by default, to METRICS_ADDRESS (host or host:port) when set', () => {
    expect(loadConfig({})).toMatchObject({ METRICS_ADDRESS: '127.0.0.1', METRICS_PORT: 9464, SDK_METRICS_PORT: 9465, SHUTDOWN_GRACE_MS: 30_000 });
    expect(loadConfig({ METRICS_ADDRESS: '0.0.0.0' })).toMatchObject({ METRICS_ADDRESS: '0.0.0.0', METRICS_PORT: 9464 });
    expect(loadConfig({ METRICS_ADDRESS: '0.0.0.0:9100' })).toMatchObject({ METRICS_ADDRESS: '0.0.0.0', METRICS_PORT: 9100, SDK_METRICS_PORT: 9101 });
    expect(loadConfig({ METRICS_ADDRESS: '[::1]:9100' })).toMatchObject({ METRICS_ADDRESS: '::1', METRICS_PORT: 9100 });
    expect(() => loadConfig({ METRICS_ADDRESS: '0.0.0.0:9100', METRICS_PORT: '9200' })).toThrow(/METRICS_ADDRESS: names port 9100 but METRICS_PORT is 9200/);
    expect(() => loadConfig({ METRICS_ADDRESS: 'not an address' })).toThrow(ConfigError);
    expect(loadConfig({ SHUTDOWN_GRACE_MS: '5000' }).SHUTDOWN_GRACE_MS).toBe(5000);
    expect(() => loadConfig({ SHUTDOWN_GRACE_MS: '-1' })).toThrow(/SHUTDOWN_GRACE_MS/);
    expect(localUrl('0.0.0.0', 9464)).toBe('http://127.0.0.1:9464');
    expect(localUrl('::1', 9464)).toBe('http://[::1]:9464');
  });

  it('names the codec server settings exactly CODEC_SERVER_ADDRESS (default 127.0.0.1:8089) and CODEC_SERVER_TOKEN', () => {
    expect(loadConfig({})).toMatchObject({ CODEC_SERVER_ADDRESS: '127.0.0.1:8089' });
    expect(loadConfig({ CODEC_SERVER_ADDRESS: '0.0.0.0:9000', CODEC_SERVER_TOKEN: 'a-token-of-24-characters' })).toMatchObject({
      CODEC_SERVER_ADDRESS: '0.0.0.0:9000',
      CODEC_SERVER_TOKEN: 'a-token-of-24-characters',
    });
    expect(() => loadConfig({ CODEC_SERVER_TOKEN: 'short' })).toThrow(/CODEC_SERVER_TOKEN/);
  });

  it('rotates keys: old payloads decrypt, the key PAYLOAD_KEY_ID names encrypts, PAYLOAD_KEY alone works as before', async () => {
    const [a, b, c] = [key(), key(), key()];
    const before = pipelineCodec(loadConfig({ PAYLOAD_KEY: a }));
    const [old] = (await before?.encode([defaultPayloadConverter.toPayload('old')])) ?? [];
    expect(keyIdOfPayload(old)).toBe(keyIdOf(Buffer.from(a, 'base64')));

    // Step 1 of a rotation: the new key is added and named; the old one stays as PAYLOAD_KEY.
    const rotated = pipelineCodec(loadConfig({ PAYLOAD_KEY: a, PAYLOAD_KEYS: `2027-01:${b}`, PAYLOAD_KEY_ID: '2027-01' }));
    const [fresh] = (await rotated?.encode([defaultPayloadConverter.toPayload('new')])) ?? [];
    expect(keyIdOfPayload(fresh)).toBe('2027-01');
    // Later: the old key moves into the list under a name; its payloads (named by digest) still decrypt.
    const later = pipelineCodec(loadConfig({ PAYLOAD_KEYS: `2026:${a}, 2027-01:${b}, 2028:${c}`, PAYLOAD_KEY_ID: '2028' }));
    const decoded = (await later?.decode([old as Payload, fresh as Payload])) ?? [];
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['old', 'new']);
    expect(later?.keyId).toBe('2028');
    // A process that never got the new key cannot read what it sealed.
    await expect(before?.decode([fresh as Payload])).rejects.toThrow(/does not hold/);
  });

  it('refuses an ambiguous or broken key list, naming the variable', () => {
    const [a, b] = [key(), key()];
    expect(() => loadConfig({ PAYLOAD_KEYS: `x:${a},y:${b}` })).toThrow(/PAYLOAD_KEY_ID: is required with several PAYLOAD_KEYS/);
    expect(() => loadConfig({ PAYLOAD_KEYS: `x:${a}`, PAYLOAD_KEY_ID: 'z' })).toThrow(/PAYLOAD_KEY_ID: must be an id listed in PAYLOAD_KEYS/);
    expect(() => loadConfig({ PAYLOAD_KEYS: `x:${a},x:${b}`, PAYLOAD_KEY_ID: 'x' })).toThrow(/PAYLOAD_KEYS: has the same id twice/);
    expect(() => loadConfig({ PAYLOAD_KEYS: 'x:not-a-key' })).toThrow(/PAYLOAD_KEYS: entry 1 must be id:key/);
    expect(pipelineCodec(loadConfig({ PAYLOAD_KEYS: `only:${a}` }))?.keyId).toBe('only');
    expect(pipelineCodec(loadConfig({}))).toBeUndefined();
  });
});

describe("the daily schedule's second firing", () => {
  it('is three hours after SCHEDULE_TIME on the same day, or three hours before it late in the evening', () => {
    expect(secondFiringTime('00:05')).toBe('03:05');
    expect(secondFiringTime('20:59')).toBe('23:59');
    expect(secondFiringTime('21:00')).toBe('18:00');
    expect(secondFiringTime('23:30')).toBe('20:30');
  });
});
