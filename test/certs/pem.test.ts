import { fromBase64, splitPemCertificates, toBase64 } from '../../certs/pem';

const A = '-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----';
const B = '-----BEGIN CERTIFICATE-----\nQkJC\nQkJC\n-----END CERTIFICATE-----';

describe('splitPemCertificates', () => {
  it('returns each certificate block in order, newline-terminated', () => {
    expect(splitPemCertificates(`${A}\n${B}\n`)).toEqual([`${A}\n`, `${B}\n`]);
  });

  it('ignores text around and between blocks, and other PEM types', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----';
    expect(splitPemCertificates(`subject=CN = x\n${A}\n${key}\n\n${B}`)).toEqual([`${A}\n`, `${B}\n`]);
  });

  it('finds nothing in text without certificates', () => {
    expect(splitPemCertificates('not a pem')).toEqual([]);
  });
});

describe('toBase64 / fromBase64', () => {
  it('round-trip UTF-8 text', () => {
    expect(toBase64('ca\n')).toBe('Y2EK');
    expect(fromBase64(toBase64(`${A}\n`))).toBe(`${A}\n`);
  });
});
