import { Connection } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes.js';
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTemporal } from '../support/servers.js';

// The product's custom search attributes, as scripts/temporal.sh registers them.
const expectedSearchAttributes = {
  ClientId: 'KEYWORD',
  EventDates: 'KEYWORD_LIST',
  FileKind: 'KEYWORD',
  FileId: 'KEYWORD',
  Stage: 'KEYWORD',
  LateFile: 'BOOL',
  StreamSource: 'KEYWORD',
  Sequence: 'INT',
} as const;

function portAccepts(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((done) => {
    const socket = createConnection({ host: host ?? '127.0.0.1', port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe('Temporal dev server from global setup', () => {
  const address = inject('temporalAddress');
  // This worker's namespace (test/support/worker-namespace.ts), one of those the global setup created.
  const namespace = process.env.TEMPORAL_NAMESPACE ?? '';
  let connection: Connection;

  beforeAll(async () => {
    connection = await Connection.connect({ address });
  });

  afterAll(async () => {
    await connection.close();
  });

  it('is exported to test processes through the environment', () => {
    expect(address).toMatch(/^[\w.-]+:\d+$/);
    expect(process.env.TEMPORAL_ADDRESS).toBe(address);
    expect(inject('temporalNamespaces')).toContain(namespace);
    expect(inject('temporalNamespaces')[0]).toBe(inject('temporalNamespace'));
  });

  it('serves the namespace', async () => {
    const response = await connection.workflowService.describeNamespace({ namespace });
    expect(response.namespaceInfo?.name).toBe(namespace);
  });

  it('has the product search attributes registered with their types', async () => {
    const response = await connection.operatorService.listSearchAttributes({ namespace });
    const registered = Object.fromEntries(
      Object.keys(expectedSearchAttributes).map((name) => [name, response.customAttributes[name]]),
    );
    const expected = Object.fromEntries(
      Object.entries(expectedSearchAttributes).map(([name, type]) => [name, encodeSearchAttributeIndexedValueType(type)]),
    );
    expect(registered).toEqual(expected);
  });
});

describe('a dedicated server', () => {
  it('starts, given a dynamic-config setting, on its own port with an extra namespace, and its port is closed after stop', async () => {
    const server = await startTemporal({
      namespace: 'stack-test',
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 50 },
    });
    try {
      expect(server.address).not.toBe(inject('temporalAddress'));
      const connection = await Connection.connect({ address: server.address });
      try {
        const response = await connection.workflowService.describeNamespace({ namespace: 'stack-test' });
        expect(response.namespaceInfo?.name).toBe('stack-test');
      } finally {
        await connection.close();
      }
    } finally {
      await server.stop();
    }
    expect(await portAccepts(server.address)).toBe(false);
  });
});
