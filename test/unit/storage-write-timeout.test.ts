import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageWriteAppender } from '../../src/warehouse/bigquery/storage-write.js';

// A server that accepts connections and never answers: a Storage Write connection gone quiet without an error.
describe('Storage Write appends against a connection that never answers', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let port = 0;

  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails the append after its answer timeout, naming the table, instead of waiting for ever', async () => {
    const appender = new StorageWriteAppender({ projectId: 'p', datasetId: 'd', grpcEndpoint: `127.0.0.1:${port}`, answerTimeoutMs: 1500 });
    const started = Date.now();
    await expect(appender.append('stream_events', [{ transaction_id: 't1' }])).rejects.toThrow(
      /append to stream_events: no answer from the Storage Write API within 1500 ms/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(sockets.length).toBeGreaterThan(0);
    await appender.close();
  }, 30_000);
});
