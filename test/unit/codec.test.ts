import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, keyIdOf, parseKey } from '../../src/codec/encryption-codec.js';

const key = randomBytes(32);
const codec = new EncryptionCodec(key);
const payloadOf = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const secret = { fileId: 'acme-recon-2026-11-21-7', covers: ['2026-11-21'], amount: '18432110.55' };

describe('payload encryption codec', () => {
  it('round-trips payloads, metadata included', async () => {
    const payloads = [payloadOf(secret), payloadOf(null), payloadOf(undefined), payloadOf(new Uint8Array([0, 1, 255])), { metadata: { encoding: new TextEncoder().encode('json/plain') } }];
    const decoded = await codec.decode(await codec.encode(payloads));
    expect(decoded).toEqual(payloads);
    expect(defaultPayloadConverter.fromPayload(decoded[0] as Payload)).toEqual(secret);
  });

  it('leaves nothing readable: encoding and key id only, fresh IV per payload', async () => {
    const [a, b] = await codec.encode([payloadOf(secret), payloadOf(secret)]);
    for (const p of [a, b]) {
      expect(new TextDecoder().decode(p?.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
      expect(new TextDecoder().decode(p?.metadata?.[KEY_ID_METADATA])).toBe(keyIdOf(key));
      expect(Object.keys(p?.metadata ?? {}).sort()).toEqual(['encoding', KEY_ID_METADATA].sort());
      const raw = Buffer.from(p?.data ?? []).toString('latin1');
      for (const clear of [secret.fileId, secret.amount, '2026-11-21', 'json/plain']) expect(raw).not.toContain(clear);
    }
    expect(Buffer.from(a?.data ?? []).equals(Buffer.from(b?.data ?? []))).toBe(false);
    expect(keyIdOf(key)).not.toContain(key.toString('hex').slice(0, 8));
  });

  it('refuses a tampered payload, a relabelled key id, a wrong key and an unknown key', async () => {
    const [sealed] = await codec.encode([payloadOf(secret)]);
    if (!sealed?.data) throw new Error('no data');
    for (const at of [0, 12, sealed.data.length - 1]) {
      const data = new Uint8Array(sealed.data);
      data[at] = (data[at] ?? 0) ^ 1;
      await expect(codec.decode([{ ...sealed, data }])).rejects.toThrow(/failed authentication/);
    }
    await expect(codec.decode([{ ...sealed, data: sealed.data.subarray(0, 20) }])).rejects.toThrow(/failed authentication|too short/);

    const other = randomBytes(32);
    const both = new EncryptionCodec(other, [key]);
    const relabelled = { ...sealed, metadata: { ...sealed.metadata, [KEY_ID_METADATA]: new TextEncoder().encode(keyIdOf(other)) } };
    await expect(both.decode([relabelled])).rejects.toThrow(/failed authentication/);
    await expect(new EncryptionCodec(other).decode([sealed])).rejects.toThrow(/does not hold/);
  });

  it('decodes payloads sealed with a previous key after rotation, and passes unencrypted ones through', async () => {
    const [old] = await codec.encode([payloadOf(secret)]);
    const rotated = new EncryptionCodec(randomBytes(32), [key]);
    const [decoded] = await rotated.decode([old as Payload]);
    expect(defaultPayloadConverter.fromPayload(decoded as Payload)).toEqual(secret);
    const [fresh] = await rotated.encode([payloadOf(1)]);
    expect(new TextDecoder().decode(fresh?.metadata?.[KEY_ID_METADATA])).toBe(rotated.keyId);
    expect(await rotated.decode([payloadOf('plain')])).toEqual([payloadOf('plain')]);
  });

  it('accepts only 32-byte base64 keys', () => {
    expect(parseKey(key.toString('base64'))).toEqual(key);
    expect(() => parseKey(randomBytes(16).toString('base64'))).toThrow(/32 bytes/);
    expect(() => EncryptionCodec.fromBase64('not base64!')).toThrow(/32 bytes/);
  });
});
