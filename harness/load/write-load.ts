import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { connect, PgEndpoint, withClient } from '../../src/adapters/postgres/connect';

/** One commit the server acknowledged: which row, which server took it, and when (ms, monotonic). */
export interface AcknowledgedCommit {
  id: number;
  server: string;
  at: number;
}

export interface WriteLoadReport {
  acknowledged: AcknowledgedCommit[];
  failedAttempts: number;
  /** Client-observed write outage (docs/outage.md): the longest gap between two acknowledged commits. */
  writeOutageMs: number;
  outageFrom: number | null;
  outageTo: number | null;
}

const TABLE = 'pgfo_write_load';
const CLIENT_TIMEOUTS = { connectTimeoutMs: 2000, statementTimeoutMs: 5000 };

/**
 * A client that writes continuously through the load balancer's write frontend, one autocommit
 * INSERT at a time, reconnecting at once after any error — the application a switchover must not
 * hurt. Every acknowledged commit is recorded so losses can be counted row by row afterwards.
 */
export class WriteLoad {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly acknowledged: AcknowledgedCommit[] = [];
  private failedAttempts = 0;
  private nextId = 1;

  constructor(private readonly endpoint: PgEndpoint) {}

  async prepare(): Promise<void> {
    await withClient(this.endpoint, async (client) => {
      await client.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
      const { rows } = await client.query<{ next: string }>(`SELECT coalesce(max(id), 0) + 1 AS next FROM ${TABLE}`);
      this.nextId = Number(rows[0].next);
    });
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Resolves once at least `count` more commits have been acknowledged. */
  async waitForCommits(count: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acknowledged.length + count;
    const deadline = performance.now() + timeoutMs;
    while (this.acknowledged.length < target) {
      if (performance.now() > deadline) throw new Error(`the write load got ${this.acknowledged.length} of ${target} commits within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  async stop(): Promise<WriteLoadReport> {
    this.running = false;
    await this.loop;
    return this.report();
  }

  report(): WriteLoadReport {
    let gap = { ms: 0, from: null as number | null, to: null as number | null };
    for (let i = 1; i < this.acknowledged.length; i++) {
      const ms = this.acknowledged[i].at - this.acknowledged[i - 1].at;
      if (ms > gap.ms) gap = { ms, from: this.acknowledged[i - 1].at, to: this.acknowledged[i].at };
    }
    return { acknowledged: [...this.acknowledged], failedAttempts: this.failedAttempts, writeOutageMs: Math.round(gap.ms), outageFrom: gap.from, outageTo: gap.to };
  }

  private async run(): Promise<void> {
    let client: Client | undefined;
    while (this.running) {
      try {
        client ??= await connect(this.endpoint, CLIENT_TIMEOUTS, 'pgfo-write-load');
        const id = this.nextId;
        const { rows } = await client.query<{ server: string }>(`INSERT INTO ${TABLE} (id) VALUES ($1) RETURNING host(inet_server_addr()) AS server`, [id]);
        this.acknowledged.push({ id, server: rows[0].server, at: performance.now() });
        this.nextId++;
      } catch {
        // Whether that INSERT committed is unknown (it was never acknowledged); a fresh id keeps rows distinct.
        this.failedAttempts++;
        this.nextId++;
        await client?.end().catch(() => undefined);
        client = undefined;
        // A refused connection fails in microseconds; a short pause keeps the retry loop from spinning a core.
        await sleep(10);
      }
    }
    await client?.end().catch(() => undefined);
  }
}

/** Acknowledged commits that the given server (the primary after the operation) does not have. */
export async function findLostCommits(endpoint: PgEndpoint, acknowledged: AcknowledgedCommit[]): Promise<number[]> {
  if (acknowledged.length === 0) return [];
  return withClient(
    endpoint,
    async (client) => {
      const ids = acknowledged.map((c) => c.id);
      const { rows } = await client.query<{ id: string }>(`SELECT id FROM unnest($1::bigint[]) AS wanted(id) WHERE NOT EXISTS (SELECT 1 FROM ${TABLE} t WHERE t.id = wanted.id)`, [ids]);
      return rows.map((r) => Number(r.id));
    },
    { connectTimeoutMs: 5000, statementTimeoutMs: 60_000 },
  );
}
