/**
 * Is an access token hiding in the query or the body? FAPI 1 Advanced §6.2.1-1 and FAPI 2 §5.3.3 allow
 * the Authorization header only (RFC 6750 §2.2 and §2.3 are refused), and back ends disagree on what a
 * parameter name is: all of them percent-decode it, PHP turns `.` and spaces into `_` and reads
 * `access_token[]`, Java servlet containers accept `;` between parameters, ASP.NET ignores letter case.
 * A name is refused when any of those readings makes it `access_token`.
 */

/** `access_token` as some back end would read the (already percent-decoded) parameter name. */
export function isAccessTokenName(decodedName: string): boolean {
  let name = decodedName;
  const bracket = name.indexOf('[');
  if (bracket !== -1) name = name.slice(0, bracket);
  name = name.trim().toLowerCase().replace(/[. ]/g, '_');
  return name === 'access_token';
}

/** Percent-decodes a form/query component the way URLSearchParams does, never throwing. */
function decodeComponent(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    // Malformed escapes: decode what can be decoded (as URLSearchParams does, leaving the rest).
    return plus.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

/** True when a query string or urlencoded body has a parameter some back end reads as `access_token`. */
export function parametersCarryToken(encoded: string): boolean {
  // Cheap rejection of the common case: no name can decode to access_token without one of these.
  if (!/access|%|\+/i.test(encoded)) return false;
  for (const pair of encoded.split(/[&;]/)) {
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    if (rawName === '') continue;
    if (isAccessTokenName(decodeComponent(rawName.replace(/^\?/, '')))) return true;
  }
  return false;
}

/**
 * multipart/form-data (RFC 7578): a part whose Content-Disposition `name` (or RFC 2231 `name*`) is
 * access_token. Part headers are ASCII; the search runs over the latin1 view of the bounded body.
 */
export function multipartCarriesToken(body: Buffer): boolean {
  const text = body.toString('latin1');
  const names = /content-disposition:[^\r\n]*?\bname(\*?)=\s*("([^"]*)"|[^;\r\n]*)/gi;
  for (let m = names.exec(text); m !== null; m = names.exec(text)) {
    let value = m[3] ?? m[2]!.trim();
    if (m[1] === '*') value = value.replace(/^[^']*'[^']*'/, ''); // charset'lang'value
    if (isAccessTokenName(decodeComponent(value))) return true;
  }
  return false;
}
