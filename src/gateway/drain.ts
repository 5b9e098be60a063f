/**
 * Stopping without dropping a request: the in-flight count the request handler keeps, and the drain
 * that closes the listener, lets the requests already received finish (bounded by
 * shutdown.drainTimeoutMs) and then closes what is left. Before the drain, a grace period
 * (shutdown.graceSeconds, on SIGTERM) keeps serving while /readyz fails, so load balancers stop
 * sending before the listener closes.
 */
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';

/**
 * Requests received and not yet answered. Once stopping (grace period, then drain), new requests are
 * answered with `Connection: close`, so keep-alive clients open their next connection elsewhere.
 */
export class InFlight {
  private count = 0;
  private onIdle: (() => void) | undefined;
  private drainingNow = false;

  get size(): number {
    return this.count;
  }

  get draining(): boolean {
    return this.drainingNow;
  }

  begin(): void {
    this.count++;
  }

  end(): void {
    this.count--;
    if (this.drainingNow && this.count === 0) this.onIdle?.();
  }

  /** From now on every answer asks the client to close its connection (RFC 9112 §9.6). */
  closeConnections(): void {
    this.drainingNow = true;
  }

  /** Marks the start of the drain; resolves when no request is in flight. */
  drain(): Promise<void> {
    this.drainingNow = true;
    return new Promise<void>((resolve) => {
      if (this.count === 0) resolve();
      else this.onIdle = resolve;
    });
  }
}

/**
 * Stops accepting connections, closes idle keep-alive connections as they become idle, waits for the
 * in-flight requests up to `timeoutMs`, then closes every connection still open.
 */
export async function drainListener(
  listener: HttpsServer,
  inFlight: InFlight,
  timeoutMs: number,
  logger: Logger,
): Promise<void> {
  const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
  const allDone = inFlight.drain();
  listener.closeIdleConnections();
  // Logged once the listener is closed: whoever waits for this line finds new connections refused.
  logger.info(
    { event: 'draining', inFlight: inFlight.size },
    'stopping: no new connections, draining in-flight requests',
  );
  const idleSweep = setInterval(() => listener.closeIdleConnections(), 50);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([allDone.then(() => 'drained' as const), timeout]);
  clearInterval(idleSweep);
  clearTimeout(timer);
  listener.closeAllConnections();
  if (outcome === 'timeout')
    logger.warn(
      { event: 'drain_timeout', inFlight: inFlight.size },
      'drain timeout: closing remaining connections',
    );
  await closed;
}
