// What checking a message's authentication found (SPF, DKIM, ARC, DMARC): one result per method and
// identity, in the terms of RFC 8601, which the Authentication-Results header and the policy read.

/** One resinfo of RFC 8601 §2.2: method=result (comment) ptype.property=value… */
export interface MethodResult {
  method: 'spf' | 'dkim' | 'arc' | 'dmarc';
  /** pass, fail, softfail, neutral, none, temperror, permerror, policy (RFC 8601 §2.7). */
  result: string;
  comment?: string;
  /** e.g. ['smtp.mailfrom', 'a@example.com'], ['header.d', 'example.com']. */
  properties: [string, string][];
}

export interface AuthVerdict {
  /** In Authentication-Results order: SPF (MAIL FROM, then HELO), DKIM (one per signature), ARC, DMARC. */
  results: MethodResult[];
  /** The RFC 5322.From domain whose DMARC policy was evaluated; undefined without a single From address. */
  authorDomain?: string;
  /** DMARC's outcome and the policy the author domain publishes (p, or sp for a subdomain). */
  dmarc: { result: string; policy?: 'none' | 'quarantine' | 'reject' };
  /** The MAIL FROM domain, when SPF authorised the client for it. */
  spfPassDomain?: string;
  /** Some lookup failed for a temporary reason: a DMARC fail may have been a pass with DNS working. */
  temporaryFailure: boolean;
}
