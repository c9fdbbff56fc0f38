/**
 * Payload encryption for Temporal: every payload (workflow and activity inputs and results, signals, queries,
 * failure details) is sealed with AES-256-GCM before it leaves the process, so Temporal's history and the
 * Web UI hold only ciphertext. The key id travels in the payload's metadata; several keys can be held for
 * decoding, so a key can be rotated without losing old histories.
 *
 * Codecs run outside the workflow sandbox (in the worker's and clients' main thread), so node:crypto is fine.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ValueError, type Payload, type PayloadCodec } from '@temporalio/common';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined): string => (b ? new TextDecoder().decode(b) : '');

/** The whole payload (metadata and data) is sealed, so even its encoding stays private. */
const serialize = (payload: Payload): Buffer =>
  Buffer.from(
    JSON.stringify({
      m: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      d: payload.data ? Buffer.from(payload.data).toString('base64') : null,
    }),
  );
const deserialize = (bytes: Buffer): Payload => {
  const parsed = JSON.parse(bytes.toString('utf8')) as { m: Record<string, string>; d: string | null };
  return {
    metadata: Object.fromEntries(Object.entries(parsed.m).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    ...(parsed.d === null ? {} : { data: new Uint8Array(Buffer.from(parsed.d, 'base64')) }),
  };
};

/** A key id that names a key without revealing it: the first 16 hex digits of its SHA-256. */
export const keyIdOf = (key: Buffer): string => `k-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;

/** Parses a base64 AES-256 key (the PAYLOAD_KEY format); throws if it is not 32 bytes. */
export const parseKey = (base64: string): Buffer => {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32 || key.toString('base64') !== base64) throw new ValueError('payload key must be 32 bytes, base64-encoded');
  return key;
};

/** Keys by id: every one decrypts, `encryptWith` names the one that encrypts. */
export interface Keyring {
  keys: ReadonlyArray<{ id?: string; key: Buffer }>;
  /** Id of the encrypting key; unset: the first key. */
  encryptWith?: string;
}

export class EncryptionCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  readonly keyId: string;

  /**
   * `key` encrypts and decrypts, `previousKeys` only decrypt; or a keyring of named keys. Every key also answers
   * to its digest id (`keyIdOf`), so a key first used as PAYLOAD_KEY keeps decrypting after it is given a name.
   */
  constructor(key: Buffer | Keyring, previousKeys: Buffer[] = []) {
    const ring: Keyring = Buffer.isBuffer(key) ? { keys: [{ key }, ...previousKeys.map((k) => ({ key: k }))] } : key;
    for (const { id, key: k } of ring.keys) {
      if (k.length !== 32) throw new ValueError('AES-256-GCM needs a 32-byte key');
      for (const name of [id, keyIdOf(k)]) {
        if (name === undefined) continue;
        const held = this.keys.get(name);
        if (held !== undefined && !held.equals(k)) throw new ValueError(`two different keys are named ${name}`);
        this.keys.set(name, k);
      }
    }
    const first = ring.keys[0];
    if (first === undefined) throw new ValueError('a keyring needs at least one key');
    this.keyId = ring.encryptWith ?? first.id ?? keyIdOf(first.key);
    if (!this.keys.has(this.keyId)) throw new ValueError(`no key named ${this.keyId} to encrypt with`);
  }

  static fromBase64(key: string, previousKeys: string[] = []): EncryptionCodec {
    return new EncryptionCodec(parseKey(key), previousKeys.map(parseKey));
  }

  /** Ids this codec decrypts (names and digest ids). */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = serialize(payload);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.keyId) as Buffer, iv);
      // The key id is authenticated too: a payload cannot be relabelled to another key.
      cipher.setAAD(text(this.keyId));
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: text(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: text(this.keyId) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (str(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyId = str(payload.metadata?.[KEY_ID_METADATA]);
      const key = this.keys.get(keyId);
      if (!key) throw new ValueError(`payload is encrypted with key ${keyId || '(none)'}, which this process does not hold`);
      const data = payload.data ?? new Uint8Array();
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError('encrypted payload is too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(text(keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new ValueError(`encrypted payload failed authentication (key ${keyId}): tampered with or wrong key`);
      }
      return deserialize(plain);
    });
  }
}
