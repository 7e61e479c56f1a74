import { Secret } from 'kubernetes-models/v1/Secret';
import { parse } from 'yaml';
import { bundleOfSecret, tlsSecret, tlsSecretYaml } from '../../certs/tls-secret';

const REF = { name: 'datamount-webhook-tls', namespace: 'datamount-system' };
const BUNDLE = { caPem: 'CA\n', certPem: 'CERT\n', keyPem: 'KEY\n' };

describe('tlsSecret', () => {
  it('is a schema-valid kubernetes.io/tls Secret holding ca.crt, tls.crt and tls.key in base64', () => {
    const secret = tlsSecret(REF, BUNDLE);
    expect(() => new Secret(secret).validate()).not.toThrow();
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(secret.data).toEqual({ 'ca.crt': 'Q0EK', 'tls.crt': 'Q0VSVAo=', 'tls.key': 'S0VZCg==' });
    expect(secret.metadata.resourceVersion).toBeUndefined();
  });

  it('carries the resourceVersion it is given, for an optimistic update', () => {
    expect(tlsSecret(REF, BUNDLE, '42').metadata.resourceVersion).toBe('42');
  });

  it('round-trips through YAML and bundleOfSecret', () => {
    expect(bundleOfSecret(parse(tlsSecretYaml(REF, BUNDLE)) as { data: Record<string, string> })).toEqual(BUNDLE);
  });
});

describe('bundleOfSecret', () => {
  describe('when keys are missing', () => {
    it.each([[{}], [{ data: null }], [{ data: { 'tls.crt': 'Q0VSVAo=' } }]])('reads them as empty text from %p', (secret) => {
      const bundle = bundleOfSecret(secret);
      expect(bundle.caPem).toBe('');
      expect(bundle.keyPem).toBe('');
    });
  });
});
