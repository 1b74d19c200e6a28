import { Client, ClientConfig } from 'pg';

export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** libpq-style: "disable" | "require" | "verify-ca" | "verify-full" (no "prefer": node-postgres cannot fall back to plaintext). */
  sslMode?: string;
  sslRootCert?: string;
}

export interface PgTimeouts {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

export const DEFAULT_TIMEOUTS: PgTimeouts = { connectTimeoutMs: 3000, statementTimeoutMs: 5000 };

function sslOptions(endpoint: PgEndpoint): ClientConfig['ssl'] {
  switch (endpoint.sslMode ?? 'disable') {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, ca: endpoint.sslRootCert, checkServerIdentity: () => undefined };
    default:
      return { rejectUnauthorized: true, ca: endpoint.sslRootCert };
  }
}

/** A connected client with short timeouts, so a dead or frozen node costs seconds, not minutes. */
export async function connect(endpoint: PgEndpoint, timeouts: PgTimeouts = DEFAULT_TIMEOUTS, applicationName = 'pg-failover'): Promise<Client> {
  const client = new Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: endpoint.database,
    ssl: sslOptions(endpoint),
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    query_timeout: timeouts.statementTimeoutMs + 1000,
    application_name: applicationName,
  });
  // A server that dies mid-session emits 'error' on the client; without a listener it would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

export async function withClient<T>(endpoint: PgEndpoint, work: (client: Client) => Promise<T>, timeouts?: PgTimeouts): Promise<T> {
  const client = await connect(endpoint, timeouts);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
