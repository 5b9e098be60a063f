import type { AddressInfo, Server } from 'node:net';

/**
 * Binds a listener and resolves with the bound port (so port 0 works). A port that cannot be opened
 * rejects with the plain-language reason and the fix, for the caller to name its configuration key.
 */
export function listenOn(
  server: Server,
  host: string,
  port: number,
  toError: (why: string, cause: NodeJS.ErrnoException) => Error,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'is already in use: choose another port or stop the process using it'
          : err.code === 'EACCES'
            ? 'needs privileges: use a port above 1023'
            : `cannot be opened (${err.code ?? err.message})`;
      reject(toError(`${host}:${port} ${why}`, err));
    };
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
