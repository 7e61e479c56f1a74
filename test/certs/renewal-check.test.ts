import { RENEW_AFTER_FRACTION, renewalReason, validCaPems } from '../../certs/renewal-check';
import { serviceDnsNames } from '../../certs/service-names';
import { SERVING_VALIDITY_DAYS, issueTlsBundle, type TlsBundle } from '../../certs/tls-bundle';

const SERVICE = { name: 'datamount-webhook', namespace: 'datamount-system' };
const NAMES = serviceDnsNames(SERVICE);
const DAY_MS = 24 * 60 * 60 * 1000;
const ISSUED = new Date('2026-01-01T00:00:00Z');

function daysAfterIssue(days: number): Date {
  return new Date(ISSUED.getTime() + days * DAY_MS);
}

describe('renewalReason', () => {
  let bundle: TlsBundle;
  let other: TlsBundle;

  beforeAll(async () => {
    [bundle, other] = await Promise.all([
      issueTlsBundle({ service: SERVICE, now: ISSUED }),
      issueTlsBundle({ service: SERVICE, now: ISSUED }),
    ]);
  });

  describe('when the bundle is sound', () => {
    it.each([0, 1, 100, 240])('keeps it %d days after issue', (days) => {
      expect(renewalReason(bundle, NAMES, daysAfterIssue(days))).toBeUndefined();
    });

    it('keeps it when ca.crt also holds a previous CA after the signing one', () => {
      const twoCas = { ...bundle, caPem: bundle.caPem + other.caPem };
      expect(renewalReason(twoCas, NAMES, daysAfterIssue(1))).toBeUndefined();
    });
  });

  describe('when the serving certificate has aged', () => {
    const renewDay = Math.ceil(SERVING_VALIDITY_DAYS * RENEW_AFTER_FRACTION);

    it.each([renewDay, 300, 364, 400])('renews it %d days after issue', (days) => {
      expect(renewalReason(bundle, NAMES, daysAfterIssue(days))).toMatch(/^tls\.crt has used \d+% of its lifetime \(renewal at 67%\)/);
    });
  });

  describe('when the bundle does not fit the Service', () => {
    it('renews a certificate for other names', () => {
      const names = serviceDnsNames({ name: 'datamount-webhook', namespace: 'other-ns' });
      expect(renewalReason(bundle, names, daysAfterIssue(1))).toBe(
        `tls.crt names [${NAMES.join(', ')}] but the Service needs [${names.join(', ')}]`,
      );
    });
  });

  describe('when the bundle is broken', () => {
    it.each<[string, (good: TlsBundle, foreign: TlsBundle) => TlsBundle, string]>([
      ['an empty certificate', (b) => ({ ...b, certPem: '' }), 'tls.crt is not a PEM certificate'],
      ['garbage in ca.crt', (b) => ({ ...b, caPem: 'not a pem' }), 'ca.crt holds no PEM certificate'],
      ['a leaf where the CA should be', (b) => ({ ...b, caPem: b.certPem }), 'the first certificate of ca.crt is not a CA'],
      ['another CA first', (b, f) => ({ ...b, caPem: f.caPem + b.caPem }), 'tls.crt is not signed by the first CA of ca.crt'],
      ['a key of another certificate', (b, f) => ({ ...b, keyPem: f.keyPem }), 'tls.key does not belong to tls.crt'],
      ['a key that is not PEM', (b) => ({ ...b, keyPem: 'nope' }), 'tls.key is not a PEM private key'],
    ])('renews %s', (_case, mutate, reason) => {
      expect(renewalReason(mutate(bundle, other), NAMES, daysAfterIssue(1))).toBe(reason);
    });
  });

  describe('when the CA ends before the serving certificate', () => {
    it('renews', async () => {
      const shortCa = await issueTlsBundle({ service: SERVICE, now: ISSUED, caValidityDays: 30 });
      expect(renewalReason(shortCa, NAMES, daysAfterIssue(1))).toMatch(/^the CA expires \(.+\) before tls\.crt/);
    });
  });
});

describe('validCaPems', () => {
  it('keeps the CAs still valid, in order, and drops expired ones and leaves', async () => {
    const [old, recent] = await Promise.all([
      issueTlsBundle({ service: SERVICE, now: ISSUED, caValidityDays: 10 }),
      issueTlsBundle({ service: SERVICE, now: ISSUED }),
    ]);
    const pem = recent.caPem + old.caPem + recent.certPem;
    expect(validCaPems(pem, daysAfterIssue(5))).toEqual([recent.caPem, old.caPem]);
    expect(validCaPems(pem, daysAfterIssue(20))).toEqual([recent.caPem]);
  });
});
