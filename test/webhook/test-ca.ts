/**
 * A throwaway CA and serving certificates, made with node-forge inside the test (nothing on
 * disk but what the test writes itself). 1024-bit keys: these never leave the test process,
 * and 2048-bit generation in pure JavaScript would cost seconds per certificate.
 */
import forge from 'node-forge';

export interface TestCa {
  certPem: string;
  keyPem: string;
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

export interface ServingCert {
  certPem: string;
  keyPem: string;
  serial: string;
}

let serialCounter = 1;

function nextSerial(): string {
  serialCounter += 1;
  return serialCounter.toString(16).padStart(4, '0');
}

export function makeTestCa(commonName = 'datamount test CA'): TestCa {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = nextSerial();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey), cert, key: keys.privateKey };
}

export function makeServingCert(ca: TestCa, dnsNames: string[]): ServingCert {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  const serial = nextSerial();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? 'localhost' }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey), serial };
}

/** The names the API server uses for the webhook Service (design: svc, svc.ns, svc.ns.svc). */
export const WEBHOOK_DNS_NAMES = ['datamount-webhook', 'datamount-webhook.datamount-system', 'datamount-webhook.datamount-system.svc'];
export const WEBHOOK_SERVER_NAME = 'datamount-webhook.datamount-system.svc';
