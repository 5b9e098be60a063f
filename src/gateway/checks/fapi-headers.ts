/**
 * FAPI 1.0 Advanced / FAPI 2.0 resource-server headers (FAPI 1 Baseline §6.2.1-11..13): the interaction id
 * is echoed (or created), and the optional auth-date and customer-ip headers must be well-formed.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { reject, type Reject } from '../rejections.js';
import type { Check, RequestContext } from '../request-context.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** RFC 7231 §7.1.1.1 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A real calendar date in IMF-fixdate form, with the right day of the week. */
export function isImfFixdate(value: string): boolean {
  if (!IMF_FIXDATE.test(value)) return false;
  const t = Date.parse(value);
  return Number.isFinite(t) && new Date(t).toUTCString() === value;
}

/**
 * The interaction id every response carries: the request's own when it is a UUID (any letter case,
 * echoed verbatim), otherwise a fresh UUID v4. An invalid value is never echoed (it is attacker input).
 */
export function interactionIdFor(req: IncomingMessage): string {
  const sent = req.headers['x-fapi-interaction-id'];
  return typeof sent === 'string' && UUID.test(sent) ? sent : randomUUID();
}

/**
 * An IPv4 or IPv6 address as another host can use it. Node's isIP also accepts an IPv6 zone index of any
 * length (`fe80::1%` + 5,000 letters); a zone index means something only on the host that chose it
 * (RFC 4007 §6, §11), so it is never the customer's address and is refused rather than forwarded.
 */
function isCustomerAddress(value: string): boolean {
  return isIP(value) !== 0 && !value.includes('%');
}

export const fapiHeadersCheck: Check = {
  name: 'fapi-headers',
  requires: [],
  provides: ['headers'],
  reportable: true,
  run: fapiHeadersProblem,
};

function fapiHeadersProblem(ctx: RequestContext): Reject | undefined {
  const h = ctx.req.headers;
  const interaction = h['x-fapi-interaction-id'];
  if (interaction !== undefined && !(typeof interaction === 'string' && UUID.test(interaction))) {
    return reject('invalid_interaction_id', 'x-fapi-interaction-id must be a UUID');
  }
  const authDate = h['x-fapi-auth-date'];
  if (authDate !== undefined && !(typeof authDate === 'string' && isImfFixdate(authDate))) {
    return reject('invalid_auth_date', 'x-fapi-auth-date must be an RFC 7231 IMF-fixdate');
  }
  const ip = h['x-fapi-customer-ip-address'];
  if (ip !== undefined && !(typeof ip === 'string' && isCustomerAddress(ip))) {
    return reject('invalid_customer_ip', 'x-fapi-customer-ip-address must be an IPv4 or IPv6 address');
  }
  return undefined;
}
