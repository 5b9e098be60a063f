/**
 * RFC 9449 §4.3 (9): the proof's `htu` must be the URI of the request it accompanies, "ignoring any query
 * and fragment parts", after syntax- and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3): scheme and
 * host compare case-insensitively and the default port equals no port. The WHATWG URL parser performs
 * exactly these normalisations, so both sides go through it and the results are compared as strings.
 */

/**
 * The `https` origin of a configured public origin or of a request's `Host`, normalised (lower case, no
 * default port); undefined when it is not a bare `https://host[:port]` origin.
 */
export function httpsOrigin(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return undefined;
  return url.origin;
}

/** The normalised origin for a request's `Host` header value; undefined when it is not a valid authority. */
export function originOfHost(host: string): string | undefined {
  // An authority never contains these; refusing them keeps a hostile Host from smuggling a path or userinfo.
  if (host === '' || /[/\\?#@\s]/.test(host)) return undefined;
  return httpsOrigin(`https://${host}`);
}

/** The normalised path of a request target's path (no query); undefined when it does not parse. */
export function normalisedPath(path: string): string | undefined {
  try {
    return new URL(path, 'https://dpop.invalid').pathname;
  } catch {
    return undefined;
  }
}

export interface ExpectedHtu {
  /** Normalised https origins (see `httpsOrigin`) the proof may name: the request's Host, or public origins. */
  origins: readonly string[];
  /** The request's path, without query. */
  path: string;
}

/** Whether `htu` names one of the expected origins and the request's path (query and fragment ignored). */
export function htuMatches(htu: string, expected: ExpectedHtu): boolean {
  let url: URL;
  try {
    url = new URL(htu);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return false;
  if (!expected.origins.includes(url.origin)) return false;
  const path = normalisedPath(expected.path);
  return path !== undefined && url.pathname === path;
}
