import { triggerOf } from '../worker/function-kinds';
import type { RegisteredFunction } from '../worker/worker-core';
import { parseRouteTemplate, type RouteTemplate } from './route-template';

/** An HTTP trigger's route as the host derives it from the binding (route defaults to the function name). */
export interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  /** Upper-case; undefined = any method. */
  methods: string[] | undefined;
  authLevel: string;
}

export function httpRouteOf(fn: RegisteredFunction): HttpRoute {
  const trigger = triggerOf(fn);
  const methods = Array.isArray(trigger.methods) ? (trigger.methods as string[]).map((m) => m.toUpperCase()) : undefined;
  const template = parseRouteTemplate(typeof trigger.route === 'string' && trigger.route !== '' ? trigger.route : fn.name);
  return { fn, template, methods, authLevel: typeof trigger.authLevel === 'string' ? trigger.authLevel : 'function' };
}

/** The part of `pathname` below /<routePrefix>, or undefined if it is not under the prefix. */
export function pathBelowPrefix(routePrefix: string, pathname: string): string | undefined {
  const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
  if (prefix === '') return pathname;
  const p = `/${prefix.toLowerCase()}`;
  const lower = pathname.toLowerCase();
  if (lower === p) return '/';
  if (lower.startsWith(`${p}/`)) return pathname.slice(p.length);
  return undefined;
}
