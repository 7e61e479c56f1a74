/** PEM text helpers: a `ca.crt` may hold several certificates (the current CA first). */

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every `CERTIFICATE` block of a PEM text, each ending in a newline. */
export function splitPemCertificates(pem: string): string[] {
  return Array.from(pem.matchAll(CERTIFICATE_BLOCK), (match) => `${match[0]}\n`);
}

export function toBase64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export function fromBase64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}
