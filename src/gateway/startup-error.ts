/** A problem that stops the gateway from starting, phrased for the operator: the key, the value, the fix. */
export class StartupError extends Error {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${key}: ${message}`, options);
    this.name = 'StartupError';
  }
}
