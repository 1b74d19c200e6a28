import { createServer, Server, Socket, connect as connectTcp } from 'node:net';
import { once } from 'node:events';

export interface Backend {
  name: string;
  host: string;
  port: number;
}

export interface Frontend {
  host: string;
  port: number;
}

export interface PoolMembership {
  writePool: string[];
  readPool: string[];
}

type PoolName = keyof PoolMembership;

/**
 * Plays Azure's Standard internal load balancer for the lab: a write and a read frontend, each
 * forwarding NEW connections round-robin to the current members of its backend pool. Like Azure,
 * changing a pool leaves established flows alone, and an empty pool accepts no connection.
 */
export class TcpLoadBalancer {
  private membership: PoolMembership = { writePool: [], readPool: [] };
  private readonly servers: Server[] = [];
  private readonly nextIndex: Record<PoolName, number> = { writePool: 0, readPool: 0 };
  private readonly flows = new Set<Socket>();

  constructor(
    private readonly backends: Backend[],
    private readonly frontends: { write: Frontend; read: Frontend },
  ) {}

  async start(initial: PoolMembership): Promise<void> {
    this.setPools(initial);
    for (const [pool, frontend] of [['writePool', this.frontends.write], ['readPool', this.frontends.read]] as const) {
      const server = createServer((socket) => this.forward(pool, socket));
      server.listen(frontend.port, frontend.host);
      await once(server, 'listening');
      this.servers.push(server);
    }
  }

  pools(): PoolMembership {
    return { writePool: [...this.membership.writePool], readPool: [...this.membership.readPool] };
  }

  setPools(next: PoolMembership): void {
    const known = new Set(this.backends.map((b) => b.name));
    const unknown = [...next.writePool, ...next.readPool].filter((name) => !known.has(name));
    if (unknown.length) throw new Error(`unknown backend(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
    this.membership = { writePool: [...new Set(next.writePool)], readPool: [...new Set(next.readPool)] };
  }

  async stop(): Promise<void> {
    for (const socket of this.flows) socket.destroy();
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }

  private pick(pool: PoolName): Backend | undefined {
    const members = this.membership[pool];
    if (members.length === 0) return undefined;
    const name = members[this.nextIndex[pool]++ % members.length];
    return this.backends.find((b) => b.name === name);
  }

  private forward(pool: PoolName, client: Socket): void {
    const backend = this.pick(pool);
    if (!backend) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(backend.port, backend.host);
    for (const socket of [client, upstream]) {
      this.flows.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => this.flows.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
  }
}
