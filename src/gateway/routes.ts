/**
 * Route matching on a normalised path. The path the gateway matched is the path it forwards, so no
 * request can reach a route other than the one it was matched to (dot segments, duplicate slashes and
 * encoded separators are the classic ways proxies and back ends disagree about a path).
 */
import type { RouteConfig } from './config.js';
import { RouteSlots } from './route-concurrency.js';

export interface CompiledRoute {
  /** The configured `path`, used as the `route` metric label. */
  label: string;
  /** Normalised prefix without a trailing slash (`''` for `/`). */
  prefix: string;
  methods: ReadonlySet<string>;
  scopes: readonly string[];
  /** The `scope` attribute of an insufficient_scope challenge (RFC 6750 §3). */
  scopeChallenge: string;
  /** What the token must be bound to: mtls, dpop or any. */
  binding: RouteConfig['binding'];
  /** report-only: failing reportable checks are counted and logged, and the call is forwarded anyway. */
  mode: RouteConfig['mode'];
  /** Requests of this route with the upstream, and how many may be (see route-concurrency.ts). */
  slots: RouteSlots;
}

export type PathResult = { ok: true; path: string } | { ok: false; why: string };

/** Percent-encoded `/`, `.` and `\` (RFC 3986 §2.2, §6.2.2.2), NUL and raw backslashes are refused. */
const ENCODED_SEPARATOR = /%(2f|2e|5c|00)|\\/i;
/** Other percent-encoded unreserved characters (RFC 3986 §2.3) are decoded so `/%61ccounts` is `/accounts`. */
const ENCODED_UNRESERVED = /%(4[1-9a-f]|5[0-9a]|6[1-9a-f]|7[0-9a]|3[0-9]|2d|5f|7e)/gi;

/** An encoded `%` followed by two hex digits: one decoding pass leaves a percent-encoded octet behind. */
const DOUBLE_ENCODED = /%25[0-9a-f]{2}/i;

/**
 * A segment some back end resolves to a dot segment although it is not literally `.` or `..`:
 * Tomcat, Jetty and Spring drop path parameters (`..;x=1` is `..`), others decode `%3B` first. Such a
 * segment is refused rather than guessed at: the gateway must match what every back end will route.
 */
function isDisguisedDotSegment(segment: string): boolean {
  let s = segment;
  if (s.includes('%')) {
    try {
      s = decodeURIComponent(s);
    } catch {
      return true; // not valid UTF-8 once decoded: no back end agrees on what it is
    }
  }
  const semicolon = s.indexOf(';');
  if (semicolon === -1) return false;
  const bare = s.slice(0, semicolon);
  return bare === '.' || bare === '..';
}

/**
 * Normalises the path of an origin-form request target (RFC 9112 §3.2.1): removes dot segments
 * (RFC 3986 §5.2.4) and empty segments, decodes encoded unreserved characters, refuses encoded separators
 * and `..` that would climb above the root, dot segments disguised by path parameters (`..;`) and
 * anything that still holds a percent-encoded octet after the one decoding pass (`%252e` is `%2e` once
 * decoded and `.` twice: back ends that decode twice would see another path).
 */
export function normalisePath(rawPath: string): PathResult {
  if (!rawPath.startsWith('/')) return { ok: false, why: 'the request target must be an absolute path' };
  if (ENCODED_SEPARATOR.test(rawPath)) {
    return { ok: false, why: 'encoded separators or dot segments are not allowed in the path' };
  }
  const decoded = rawPath.includes('%')
    ? rawPath.replace(ENCODED_UNRESERVED, (m) => String.fromCharCode(parseInt(m.slice(1), 16)))
    : rawPath;
  if (rawPath.includes('%')) {
    if (DOUBLE_ENCODED.test(decoded)) {
      return { ok: false, why: 'the path decodes differently when decoded twice' };
    }
    try {
      decodeURIComponent(decoded);
    } catch {
      // Invalid or overlong UTF-8 (`%C0%AE` is `.` to some decoders): no two back ends agree on it.
      return { ok: false, why: 'the path is not valid percent-encoded UTF-8' };
    }
  }
  if (decoded.includes(';') || /%3b/i.test(decoded)) {
    for (const segment of decoded.split('/')) {
      if (isDisguisedDotSegment(segment)) {
        return { ok: false, why: 'dot segments with path parameters are not allowed in the path' };
      }
    }
  }
  // Fast path: already normal (no empty or dot segments).
  if (!decoded.includes('//') && !/\/\.\.?(\/|$)/.test(decoded)) return { ok: true, path: decoded };
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (out.length === 0) return { ok: false, why: 'the path climbs above the root' };
      out.pop();
      continue;
    }
    out.push(s);
  }
  const trailing = decoded.endsWith('/') && out.length > 0 ? '/' : '';
  return { ok: true, path: '/' + out.join('/') + trailing };
}

/**
 * `slotsFor` gives each route its concurrency slots (shared by routes with the same path, like their
 * metrics); without it every route gets its own unlimited slots (matching only).
 */
export function compileRoutes(
  routes: readonly RouteConfig[],
  slotsFor: (route: RouteConfig) => RouteSlots = () => new RouteSlots(0),
): CompiledRoute[] {
  return routes.map((r) => {
    const normal = normalisePath(r.path);
    const prefix = (normal.ok ? normal.path : r.path).replace(/\/+$/, '');
    return {
      label: r.path,
      prefix,
      methods: new Set(r.methods),
      scopes: [...r.scopes],
      scopeChallenge: r.scopes.join(' '),
      binding: r.binding,
      mode: r.mode,
      slots: slotsFor(r),
    };
  });
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47); /* / */
}

export type RouteMatch =
  | { kind: 'matched'; route: CompiledRoute }
  | { kind: 'method_not_allowed'; route: CompiledRoute; allow: string[] }
  | { kind: 'not_found' };

/**
 * First route whose prefix and method both match wins. When prefixes match but no method does, the
 * answer is 405 with every method those routes allow (RFC 9110 §15.5.6), labelled by the first such route.
 */
export function matchRoute(routes: readonly CompiledRoute[], path: string, method: string): RouteMatch {
  let firstPathMatch: CompiledRoute | undefined;
  for (const route of routes) {
    if (!prefixMatches(route.prefix, path)) continue;
    if (route.methods.has(method)) return { kind: 'matched', route };
    firstPathMatch ??= route;
  }
  if (!firstPathMatch) return { kind: 'not_found' };
  const allow = new Set<string>();
  for (const route of routes)
    if (prefixMatches(route.prefix, path)) for (const m of route.methods) allow.add(m);
  return { kind: 'method_not_allowed', route: firstPathMatch, allow: [...allow] };
}
