/**
 * When stored TLS material must be replaced. Parsing uses Node's own X.509 code (the same
 * OpenSSL that will verify the chain), not the library that made the certificates, so a
 * certificate node-forge wrote wrongly is caught here rather than trusted.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { splitPemCertificates } from './pem';
import { CLOCK_SKEW_MS, type TlsBundle } from './tls-bundle';

/** Renew once the serving certificate has used two thirds of its lifetime. */
export const RENEW_AFTER_FRACTION = 2 / 3;

function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** The DNS names of a certificate's subjectAltName extension. */
export function dnsNames(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice('DNS:'.length));
}

function keyProblem(cert: X509Certificate, keyPem: string): string | undefined {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem)) ? undefined : 'tls.key does not belong to tls.crt';
  } catch {
    return 'tls.key is not a PEM private key';
  }
}

function namesProblem(cert: X509Certificate, wanted: readonly string[]): string | undefined {
  const have = dnsNames(cert);
  const missing = wanted.filter((name) => !have.includes(name));
  const extra = have.filter((name) => !wanted.includes(name));
  if (missing.length === 0 && extra.length === 0) return undefined;
  return `tls.crt names [${have.join(', ')}] but the Service needs [${wanted.join(', ')}]`;
}

function lifetimeProblem(cert: X509Certificate, ca: X509Certificate, now: Date): string | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const at = now.getTime();
  if (from > at + CLOCK_SKEW_MS) return `tls.crt is not valid before ${cert.validFrom}`;
  if (Date.parse(ca.validTo) < to) return `the CA expires (${ca.validTo}) before tls.crt (${cert.validTo})`;
  const used = (at - from) / (to - from);
  if (used >= RENEW_AFTER_FRACTION) {
    const percent = Math.min(100, Math.round(used * 100));
    return `tls.crt has used ${percent}% of its lifetime (renewal at ${Math.round(RENEW_AFTER_FRACTION * 100)}%), expires ${cert.validTo}`;
  }
  return undefined;
}

/**
 * Why the bundle must be replaced, or undefined when it can stay: unparseable parts, a key that
 * does not match, a certificate not signed by the first CA of `ca.crt`, SANs that differ from
 * the Service's names, or a certificate past two thirds of its lifetime.
 */
export function renewalReason(bundle: TlsBundle, names: readonly string[], now: Date): string | undefined {
  const cert = parseCertificate(bundle.certPem);
  if (!cert) return 'tls.crt is not a PEM certificate';
  const firstCaPem = splitPemCertificates(bundle.caPem)[0];
  const ca = firstCaPem === undefined ? undefined : parseCertificate(firstCaPem);
  if (!ca) return 'ca.crt holds no PEM certificate';
  if (!ca.ca) return 'the first certificate of ca.crt is not a CA';
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return 'tls.crt is not signed by the first CA of ca.crt';
  return keyProblem(cert, bundle.keyPem) ?? namesProblem(cert, names) ?? lifetimeProblem(cert, ca, now);
}

/** The CA certificates of a bundle that are still valid at `now`, in their order. */
export function validCaPems(caPem: string, now: Date): string[] {
  return splitPemCertificates(caPem).filter((pem) => {
    const cert = parseCertificate(pem);
    return cert !== undefined && cert.ca && Date.parse(cert.validTo) > now.getTime();
  });
}
