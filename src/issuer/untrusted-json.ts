/**
 * Limits on JSON that a client sends inside signed objects (request objects): signed does not mean
 * sensible. Deeply nested values overflow recursive code further on (validation, storage codecs, JSON
 * round trips) and nothing a client may legitimately send nests deeply (an OIDC `claims` request is
 * four levels).
 */

/** Deeper than any authorization parameter needs; far below where recursive code runs out of stack. */
export const MAX_JSON_DEPTH = 16;

/** True when `value` nests objects or arrays more than `max` levels deep (walked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>))
      stack.push([child, depth + 1]);
  }
  return false;
}
