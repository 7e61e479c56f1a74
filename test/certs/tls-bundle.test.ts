import { X509Certificate, createPrivateKey } from 'node:crypto';
import { pki } from 'node-forge';
import { splitPemCertificates } from '../../certs/pem';
import { serviceDnsNames } from '../../certs/service-names';
import { CLOCK_SKEW_MS, SERVING_VALIDITY_DAYS, issueTlsBundle, type TlsBundle } from '../../certs/tls-bundle';
import { handshake } from './tls-handshake';

const SERVICE = { name: 'datamount-webhook', namespace: 'datamount-system' };
const NOW = new Date();
const DAY_MS = 24 * 60 * 60 * 1000;

describe('issueTlsBundle', () => {
  let bundle: TlsBundle;
  let other: TlsBundle;

  beforeAll(async () => {
    [bundle, other] = await Promise.all([
      issueTlsBundle({ service: SERVICE, now: NOW }),
      issueTlsBundle({ service: { name: 'other', namespace: 'elsewhere' }, now: NOW }),
    ]);
  });

  describe('when the API server connects with the caBundle', () => {
    it.each(serviceDnsNames(SERVICE))('verifies the chain for %s', async (servername) => {
      await expect(handshake(bundle, { caPem: bundle.caPem, servername })).resolves.toEqual({ authorized: true });
    });

    it.each(['datamount-webhook.datamount-system.svc.cluster.local', 'other.datamount-system.svc', 'localhost'])(
      'refuses the name %s',
      async (servername) => {
        const result = await handshake(bundle, { caPem: bundle.caPem, servername });
        expect(result).toEqual({ authorized: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      },
    );

    it('refuses a chain signed by another CA', async () => {
      const result = await handshake(bundle, { caPem: other.caPem, servername: 'datamount-webhook.datamount-system.svc' });
      expect(result.authorized).toBe(false);
      expect(result.error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    });
  });

  describe('the CA', () => {
    it('is one self-signed CA certificate limited to signing certificates', () => {
      expect(splitPemCertificates(bundle.caPem)).toHaveLength(1);
      const ca = new X509Certificate(bundle.caPem);
      expect(ca.ca).toBe(true);
      expect(ca.checkIssued(ca)).toBe(true);
      const forgeCa = pki.certificateFromPem(bundle.caPem);
      expect(forgeCa.getExtension('basicConstraints')).toMatchObject({ cA: true, critical: true, pathLenConstraint: 0 });
      expect(forgeCa.getExtension('keyUsage')).toMatchObject({ keyCertSign: true, cRLSign: true, digitalSignature: false });
    });

    it('outlives the serving certificate', () => {
      const ca = new X509Certificate(bundle.caPem);
      const cert = new X509Certificate(bundle.certPem);
      expect(Date.parse(ca.validTo)).toBeGreaterThan(Date.parse(cert.validTo));
    });
  });

  describe('the serving certificate', () => {
    it('names exactly the Service DNS names', () => {
      const cert = new X509Certificate(bundle.certPem);
      expect(cert.subjectAltName).toBe(serviceDnsNames(SERVICE).map((name) => `DNS:${name}`).join(', '));
    });

    it('is a server-auth leaf with key identifiers linking it to the CA', () => {
      const cert = new X509Certificate(bundle.certPem);
      expect(cert.ca).toBe(false);
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
      const forgeCert = pki.certificateFromPem(bundle.certPem);
      const forgeCa = pki.certificateFromPem(bundle.caPem);
      expect(forgeCert.getExtension('keyUsage')).toMatchObject({ digitalSignature: true, keyEncipherment: true, keyCertSign: false });
      const caKeyId = (forgeCa.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string }).subjectKeyIdentifier;
      expect(caKeyId).toMatch(/^[0-9a-f]{40}$/);
      // The AKI extension's value is a SEQUENCE holding [0] keyIdentifier.
      const aki = forgeCert.getExtension('authorityKeyIdentifier') as { value: string };
      expect(Buffer.from(aki.value, 'binary').toString('hex')).toContain(caKeyId);
    });

    it('is signed with SHA-256 and carries an RSA key of 2048 bits', () => {
      const forgeCert = pki.certificateFromPem(bundle.certPem);
      expect(forgeCert.siginfo.algorithmOid).toBe(pki.oids.sha256WithRSAEncryption);
      const key = createPrivateKey(bundle.keyPem);
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(bundle.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    });

    it('starts a little before now and lasts the serving validity', () => {
      const cert = new X509Certificate(bundle.certPem);
      expect(Date.parse(cert.validFrom)).toBe(Math.floor((NOW.getTime() - CLOCK_SKEW_MS) / 1000) * 1000);
      expect(Date.parse(cert.validTo)).toBe(Math.floor((NOW.getTime() + SERVING_VALIDITY_DAYS * DAY_MS) / 1000) * 1000);
    });

    it('has a random positive serial number', () => {
      const a = new X509Certificate(bundle.certPem).serialNumber;
      const b = new X509Certificate(other.certPem).serialNumber;
      expect(a).not.toBe(b);
      expect(parseInt(a.slice(0, 2), 16)).toBeLessThan(0x80);
    });
  });

  describe('when asked for a larger key', () => {
    it('makes RSA 3072 keys', async () => {
      const larger = await issueTlsBundle({ service: SERVICE, now: NOW, keyBits: 3072 });
      expect(createPrivateKey(larger.keyPem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    });
  });
});
