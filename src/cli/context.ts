/** What every command needs: the configuration, a Temporal client, names of the running workflows. */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { pipelineDataConverter } from '../codec/data-converter.js';
import type { Config } from '../config.js';

export const clientConnectionOptions = (config: Config): ConnectionOptions => ({
  address: config.TEMPORAL_ADDRESS,
  ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY, tls: true } : {}),
  ...(config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY
    ? { tls: { clientCertPair: { crt: readFileSync(config.TEMPORAL_TLS_CERT), key: readFileSync(config.TEMPORAL_TLS_KEY) } } }
    : {}),
});

export interface Connected {
  client: Client;
  close: () => Promise<void>;
}

export const connectClient = async (config: Config): Promise<Connected> => {
  const connection = await Connection.connect({ ...clientConnectionOptions(config), connectTimeout: '5s' }).catch((error: unknown) => {
    throw new Error(`cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (${String(error)}); start it with: npm run cli -- stack start`);
  });
  // The worker's converter: with PAYLOAD_KEY set, arguments, results and queries are encrypted end to end.
  const dataConverter = pipelineDataConverter(config);
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, ...(dataConverter ? { dataConverter } : {}) });
  return { client, close: () => connection.close() };
};

/** The simulated feed's partition: `sim:<client>:p0` (what `up` streams from). */
export const streamSourceId = (config: Config): string => `sim:${config.CLIENT_ID}:p0`;

/** True when the Temporal address is on this host, so the local stack script may start and stop it. */
export const isLocalAddress = (address: string): boolean => /^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(address);

export const uiAddress = (config: Config): string => {
  const port = Number(config.TEMPORAL_ADDRESS.split(':').at(-1) ?? 7233);
  return `http://localhost:${Number(process.env.TEMPORAL_UI_PORT ?? port + 1000)}`;
};
