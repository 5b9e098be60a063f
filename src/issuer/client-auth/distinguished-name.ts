/**
 * Subject DN matching for tls_client_auth (RFC 8705 §2.1.2): the registered `tls_client_auth_subject_dn`
 * is an RFC 4514 string; the certificate's subject is read from its ASN.1 (by @peculiar/x509) and
 * compared RDN by RDN in RFC 4514 order, i.e. the reverse of the encoding order (RFC 4514 §2.1).
 * Attribute types compare by OID, so names are case-insensitive and `CN`, `cn`, `commonName` and
 * `2.5.4.3` are the same attribute; values compare exactly after unescaping (no case folding: an
 * exact match can never widen who is accepted); the AVAs of a multi-valued RDN compare as a set.
 */
import * as x509 from '@peculiar/x509';

export interface AttributeTypeAndValue {
  oid: string;
  value: string;
}
/** RDNs in RFC 4514 order (most specific first, as written in the string form). */
export type DistinguishedName = AttributeTypeAndValue[][];

/** RFC 4514 §3 names plus the ones certificates in open banking carry (e.g. organizationIdentifier). */
const ATTRIBUTE_OIDS: Record<string, string> = {
  cn: '2.5.4.3',
  commonname: '2.5.4.3',
  l: '2.5.4.7',
  localityname: '2.5.4.7',
  st: '2.5.4.8',
  stateorprovincename: '2.5.4.8',
  o: '2.5.4.10',
  organizationname: '2.5.4.10',
  ou: '2.5.4.11',
  organizationalunitname: '2.5.4.11',
  c: '2.5.4.6',
  countryname: '2.5.4.6',
  street: '2.5.4.9',
  streetaddress: '2.5.4.9',
  dc: '0.9.2342.19200300.100.1.25',
  domaincomponent: '0.9.2342.19200300.100.1.25',
  uid: '0.9.2342.19200300.100.1.1',
  userid: '0.9.2342.19200300.100.1.1',
  serialnumber: '2.5.4.5',
  title: '2.5.4.12',
  sn: '2.5.4.4',
  surname: '2.5.4.4',
  givenname: '2.5.4.42',
  organizationidentifier: '2.5.4.97',
  e: '1.2.840.113549.1.9.1',
  emailaddress: '1.2.840.113549.1.9.1',
  businesscategory: '2.5.4.15',
  jurisdictioncountryname: '1.3.6.1.4.1.311.60.2.1.3',
};

const OID_NAMES: Record<string, string> = {};
for (const [name, oid] of Object.entries(ATTRIBUTE_OIDS)) {
  if (!(oid in OID_NAMES) || name.length < OID_NAMES[oid]!.length) OID_NAMES[oid] = name;
}

export class DistinguishedNameSyntaxError extends Error {}

function attributeOid(type: string): string {
  const t = type.trim();
  if (/^\d+(\.\d+)+$/.test(t)) return t;
  if (/^oid\.\d+(\.\d+)+$/i.test(t)) return t.slice(4);
  const oid = ATTRIBUTE_OIDS[t.toLowerCase()];
  if (!oid)
    throw new DistinguishedNameSyntaxError(
      `unknown attribute type "${t}" (use a name from RFC 4514 §3 or a numeric OID)`,
    );
  return oid;
}

/** Parses an RFC 4514 string. Spaces around `,` `+` `=` are tolerated (as RFC 1779 allowed). */
export function parseDistinguishedName(text: string): DistinguishedName {
  const rdns: DistinguishedName = [];
  let i = 0;
  const n = text.length;
  const skipSpaces = () => {
    while (i < n && text[i] === ' ') i++;
  };
  skipSpaces();
  if (i === n) throw new DistinguishedNameSyntaxError('empty distinguished name');
  for (;;) {
    const rdn: AttributeTypeAndValue[] = [];
    for (;;) {
      skipSpaces();
      const eq = text.indexOf('=', i);
      if (eq < 0) throw new DistinguishedNameSyntaxError(`expected "type=value" at position ${i}`);
      const oid = attributeOid(text.slice(i, eq));
      i = eq + 1;
      skipSpaces();
      if (text[i] === '#')
        throw new DistinguishedNameSyntaxError('hex-encoded (#...) attribute values are not supported');
      const bytes: number[] = [];
      let pendingSpaces = 0;
      let sawValue = false;
      while (i < n && text[i] !== ',' && text[i] !== '+' && text[i] !== ';') {
        const ch = text[i]!;
        if (ch === '\\') {
          const next = text[i + 1];
          if (next === undefined) throw new DistinguishedNameSyntaxError('dangling "\\" at the end');
          for (; pendingSpaces > 0; pendingSpaces--) bytes.push(0x20);
          if (/[0-9a-fA-F]/.test(next) && /[0-9a-fA-F]/.test(text[i + 2] ?? '')) {
            bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
            i += 3;
          } else if (' "#+,;<=>\\'.includes(next)) {
            bytes.push(next.charCodeAt(0));
            i += 2;
          } else {
            throw new DistinguishedNameSyntaxError(`invalid escape "\\${next}" at position ${i}`);
          }
          sawValue = true;
          continue;
        }
        if ('"<>='.includes(ch) || ch === '\0')
          throw new DistinguishedNameSyntaxError(`"${ch}" must be escaped with "\\" (position ${i})`);
        if (ch === ' ') {
          pendingSpaces++; // trailing unescaped spaces are not part of the value (RFC 4514 §2.4)
        } else {
          for (; pendingSpaces > 0; pendingSpaces--) bytes.push(0x20);
          bytes.push(...Buffer.from(ch, 'utf8'));
          sawValue = true;
        }
        i++;
      }
      if (!sawValue) throw new DistinguishedNameSyntaxError(`empty value for attribute ${oid}`);
      const value = new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
      rdn.push({ oid, value });
      if (text[i] !== '+') break;
      i++;
    }
    rdns.push(rdn);
    if (i >= n) break;
    if (text[i] === ';') throw new DistinguishedNameSyntaxError('use "," between RDNs (";" is not RFC 4514)');
    i++; // ','
  }
  return rdns;
}

/** Short names @peculiar/x509 uses in `Name.toJSON()` (its closed registry), by OID. */
const PECULIAR_NAMES: Record<string, string> = {
  CN: '2.5.4.3',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  C: '2.5.4.6',
  DC: '0.9.2342.19200300.100.1.25',
  E: '1.2.840.113549.1.9.1',
  G: '2.5.4.42',
  I: '2.5.4.43',
  SN: '2.5.4.4',
  T: '2.5.4.12',
};

/** The certificate's subject in RFC 4514 order (reverse of the DER sequence, RFC 4514 §2.1). */
export function certificateSubject(der: Uint8Array): DistinguishedName {
  const cert = new x509.X509Certificate(der);
  return cert.subjectName
    .toJSON()
    .map((rdn) =>
      Object.entries(rdn).flatMap(([type, values]) =>
        values.map((value) => ({ oid: PECULIAR_NAMES[type] ?? type, value })),
      ),
    )
    .reverse();
}

function rdnEqual(a: AttributeTypeAndValue[], b: AttributeTypeAndValue[]): boolean {
  if (a.length !== b.length) return false;
  const key = (x: AttributeTypeAndValue) => `${x.oid}\0${x.value}`;
  const bs = new Set(b.map(key));
  return a.every((x) => bs.has(key(x)));
}

export function distinguishedNamesEqual(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.length === b.length && a.every((rdn, i) => rdnEqual(rdn, b[i]!));
}

/** RFC 4514 string form, for log lines and error hints. */
export function formatDistinguishedName(dn: DistinguishedName): string {
  const escape = (v: string) =>
    v
      .replace(/[\\"+,;<>=]/g, (c) => `\\${c}`)
      .replace(/^[ #]/, (c) => `\\${c}`)
      .replace(/ $/, '\\ ');
  return dn
    .map((rdn) => rdn.map((a) => `${(OID_NAMES[a.oid] ?? a.oid).toUpperCase()}=${escape(a.value)}`).join('+'))
    .join(',');
}
