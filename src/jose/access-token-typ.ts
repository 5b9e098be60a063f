/** RFC 9068 §2.1 `typ`: `at+jwt`, also written `application/at+jwt` (media types are case-insensitive). */
export function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'at+jwt' || t === 'application/at+jwt';
}
