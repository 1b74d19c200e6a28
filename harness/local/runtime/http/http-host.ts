import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveDurableApi } from '../durable/durable-endpoints';
import type { ApiContext } from '../durable/durable-http-api';
import type { RuntimeLog } from '../log';
import type { RpcHttpData } from '../worker/rpc-types';
import type { RegisteredFunction } from '../worker/worker-core';
import { isAuthorized, presentedKey, type FunctionKeys } from './function-keys';
import { listen, lowerCaseHeaders, readBody, requestUrl, send, type Listening, type PlainResponse } from './node-http';
import { httpRouteOf, pathBelowPrefix, type HttpRoute } from './http-routes';
import { rpcHttpRequest } from './rpc-http';

/**
 * What `func start` serves, minus the host: every HTTP-triggered function at
 * /<routePrefix>/<route> (route defaults to the function name), with its methods and authLevel
 * enforced; the durable webhooks under /runtime/webhooks/durabletask (system or master key);
 * and /admin/functions/<name> to start a non-HTTP function now (master key, body {"input": ...},
 * 202 Accepted, like the host's admin API).
 */
export interface HttpHostDeps {
  routePrefix: string;
  keys: FunctionKeys;
  log: RuntimeLog;
  durable: ApiContext;
  httpFunctions(): RegisteredFunction[];
  invokeHttp(fn: RegisteredFunction, request: RpcHttpData): Promise<PlainResponse>;
  /** Starts a non-HTTP function in the background (like the host's admin API); false if unknown. */
  startByName(name: string, input: unknown): boolean;
}

export class HttpHost {
  private listening: Listening | undefined;

  constructor(private readonly deps: HttpHostDeps) {}

  /** Starts listening (port 0 = any free port); resolves to the origin, e.g. http://127.0.0.1:7071. */
  async listen(port = 7071, host = '127.0.0.1'): Promise<string> {
    if (this.listening) throw new Error(`already listening on ${this.listening.origin}`);
    const routes = this.routes();
    for (const route of routes) {
      this.deps.log.info('http.route', {
        function: route.fn.name,
        route: `/${this.joinPrefix(route.template.template)}`,
        methods: route.methods ?? ['*'],
        authLevel: route.authLevel,
      });
    }
    this.listening = await listen((req, res) => this.handle(req, res, routes), port, host, (error) =>
      this.deps.log.error('http.error', { error }),
    );
    this.deps.log.info('http.listening', { origin: this.listening.origin });
    return this.listening.origin;
  }

  get origin(): string | undefined {
    return this.listening?.origin;
  }

  async close(): Promise<void> {
    const listening = this.listening;
    this.listening = undefined;
    await listening?.close();
  }

  private routes(): HttpRoute[] {
    return this.deps
      .httpFunctions()
      .map(httpRouteOf)
      .sort((a, b) => b.template.specificity - a.template.specificity);
  }

  private joinPrefix(path: string): string {
    return [this.deps.routePrefix, path].filter((p) => p !== '').join('/');
  }

  private async handle(req: IncomingMessage, res: ServerResponse, routes: HttpRoute[]): Promise<void> {
    const started = Date.now();
    if (await serveDurableApi(req, res, this.deps.durable, this.deps.keys, { rpc: false })) return;
    const url = requestUrl(req);
    const headers = lowerCaseHeaders(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const admin = /^\/admin\/functions\/([^/]+)$/i.exec(url.pathname);
    if (admin && method === 'POST') return this.handleAdminInvoke(req, res, decodeURIComponent(admin[1] ?? ''), headers, url);
    if (url.pathname === '/' && method === 'GET') {
      return send(res, { status: 200, headers: { 'content-type': 'text/plain' }, body: 'Local Functions runtime is running.\n' });
    }
    const local = pathBelowPrefix(this.deps.routePrefix, url.pathname);
    const match = local === undefined ? undefined : this.findRoute(routes, local, method);
    if (!match) {
      send(res, { status: 404, headers: {} });
      this.deps.log.info('http.request', { method, path: url.pathname, status: 404 });
      return;
    }
    const { route, params } = match;
    if (!isAuthorized(route.authLevel, presentedKey(headers, url.searchParams), this.deps.keys)) {
      send(res, { status: 401, headers: {} });
      this.deps.log.info('http.request', { method, path: url.pathname, function: route.fn.name, status: 401 });
      return;
    }
    const body = await readBody(req);
    let response: PlainResponse;
    try {
      response = await this.deps.invokeHttp(route.fn, rpcHttpRequest({ method, url, headers, body, params }));
    } catch (error) {
      this.deps.log.error('http.functionFailed', { function: route.fn.name, error });
      response = { status: 500, headers: {} };
    }
    send(res, response);
    this.deps.log.info('http.request', { method, path: url.pathname, function: route.fn.name, status: response.status, ms: Date.now() - started });
  }

  private findRoute(routes: HttpRoute[], path: string, method: string): { route: HttpRoute; params: Record<string, string> } | undefined {
    for (const route of routes) {
      if (route.methods && !route.methods.includes(method)) continue;
      const params = route.template.match(path);
      if (params) return { route, params };
    }
    return undefined;
  }

  private async handleAdminInvoke(
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    headers: Record<string, string | undefined>,
    url: URL,
  ): Promise<void> {
    if (!isAuthorized('admin', presentedKey(headers, url.searchParams), this.deps.keys)) return send(res, { status: 401, headers: {} });
    const text = (await readBody(req)).toString('utf8');
    let input: unknown;
    try {
      input = text.trim() === '' ? undefined : ((JSON.parse(text) as { input?: unknown }).input ?? undefined);
    } catch {
      return send(res, { status: 400, headers: {} });
    }
    send(res, { status: this.deps.startByName(name, input) ? 202 : 404, headers: {} });
  }
}
