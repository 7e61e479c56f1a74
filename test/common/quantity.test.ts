import { parseByteQuantity, parseQuantity } from '../../common/quantity';

describe('parseQuantity', () => {
  it.each([
    ['2', 2], ['500m', 0.5], ['1.5', 1.5], ['512Mi', 512 * 2 ** 20], ['10Gi', 10 * 2 ** 30],
    ['1G', 1e9], ['1k', 1000], ['3e3', 3000], ['1E2', 100], ['.5Ki', 512], ['+4', 4],
  ])('reads %s as %d', (text, value) => {
    expect(parseQuantity(text)).toBeCloseTo(value, 9);
  });

  it.each(['', 'Gi', '10 Gi', '10gi', '1KiB', 'ten', '1..5', '--1', '1e', 'NaN', 'Infinity'])(
    'refuses %p', (text) => {
      expect(parseQuantity(text)).toBeUndefined();
    },
  );
});

describe('parseByteQuantity', () => {
  it('rounds fractional bytes up', () => {
    expect(parseByteQuantity('1500m')).toBe(2);
  });
  it('refuses negative sizes', () => {
    expect(parseByteQuantity('-1Gi')).toBeUndefined();
  });
});
