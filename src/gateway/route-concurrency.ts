/**
 * Per-route concurrency limits: how many requests of one route may be with the upstream (forwarded, or
 * waiting in the pool for a connection) at once in one gateway process. A request over the limit is
 * refused at once with 503 and never forwarded, so an endpoint that stops answering holds at most its
 * own slots and the rest of the upstream pool keeps serving the other routes.
 *
 * The model is Envoy's cluster circuit breaker `max_requests` (overflow answered 503 immediately, no
 * queue) applied per route, which is also nginx's `limit_conn` with the route as the key. The count is
 * one integer per route; it lives here, outside the compiled routes, so a reload keeps counting the
 * requests that started under the previous configuration.
 */
import type { GatewayConfig, RouteConfig } from './config.js';

/**
 * The limit in force for a route: its `maxConcurrent`, else half of `upstream.maxSockets` (rounded up),
 * so that without any configuration one route can take at most half of the pool. 0: no limit.
 */
export function routeConcurrencyLimit(
  route: Pick<RouteConfig, 'maxConcurrent'>,
  upstream: Pick<GatewayConfig['upstream'], 'maxSockets'>,
): number {
  return route.maxConcurrent ?? Math.ceil(upstream.maxSockets / 2);
}

/** One route's in-flight count and limit. Acquired once per forwarded request, released exactly once. */
export class RouteSlots {
  inFlight = 0;

  constructor(public limit: number) {}

  /** Takes a slot; false when the route already has `limit` requests in flight. */
  tryAcquire(): boolean {
    if (this.limit !== 0 && this.inFlight >= this.limit) return false;
    this.inFlight++;
    return true;
  }

  release(): void {
    this.inFlight--;
  }
}

/** Every route's slots by route label (the configured path), kept for the gateway's lifetime. */
export class RouteConcurrency {
  private readonly byRoute = new Map<string, RouteSlots>();

  /** The slots of the route labelled `label`, with `limit` from now on (a reload may change it). */
  slotsFor(label: string, limit: number): RouteSlots {
    let slots = this.byRoute.get(label);
    if (slots === undefined) {
      slots = new RouteSlots(limit);
      this.byRoute.set(label, slots);
    } else slots.limit = limit;
    return slots;
  }

  /**
   * Slots for the routes of `config`. Routes with the same path share one count, as they share their
   * metrics label; the smallest of their limits applies.
   */
  slotsForRoutes(config: Pick<GatewayConfig, 'routes' | 'upstream'>): (route: RouteConfig) => RouteSlots {
    const limits = new Map<string, number>();
    for (const r of config.routes) {
      const limit = routeConcurrencyLimit(r, config.upstream);
      const other = limits.get(r.path);
      limits.set(
        r.path,
        other === undefined || other === 0 ? limit : limit === 0 ? other : Math.min(other, limit),
      );
    }
    for (const [label, limit] of limits) this.slotsFor(label, limit);
    return (route) => this.byRoute.get(route.path)!;
  }

  /** Requests in flight per route label, for the gauge. */
  inFlight(): IterableIterator<[string, RouteSlots]> {
    return this.byRoute.entries();
  }
}
