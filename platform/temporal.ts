/** Temporal connections for the API (client) side, created lazily and shared per process. */
import { Client, Connection } from '@temporalio/client';
import { temporalConfig } from '../temporal.config';

export function lazyTemporal(address: string, namespace = temporalConfig.namespace) {
  let connection: Promise<Connection> | undefined;
  let client: Promise<Client> | undefined;
  const getConnection = () => {
    connection ??= Connection.connect({ address, connectTimeout: 2000 }).catch((err) => {
      connection = undefined; // try again on the next call
      throw err;
    });
    return connection;
  };
  const getClient = () => {
    client ??= getConnection().then((c) => new Client({ connection: c, namespace })).catch((err) => {
      client = undefined;
      throw err;
    });
    return client;
  };
  const close = async () => {
    const c = connection;
    connection = undefined;
    client = undefined;
    if (c) await (await c.catch(() => undefined))?.close();
  };
  return { connection: getConnection, client: getClient, close };
}
