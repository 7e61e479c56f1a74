import { mismatchedKeys, parseReaderOutput, readerScript } from '../../demo/reader-script';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('parseReaderOutput', () => {
  it('reads the sums and the READ line', () => {
    const report = parseReaderOutput(`${A}  ./train/x.jpg\n${B}  ./labels.csv\nREAD files=2 bytes=300 ns=1500000000\n`);
    expect(report).toEqual({ files: 2, bytes: 300, seconds: 1.5, sums: new Map([['train/x.jpg', A], ['labels.csv', B]]) });
  });

  it('fails with the end of the output when the reader did not finish', () => {
    expect(() => parseReaderOutput('sha256sum: ./x: Input/output error\n')).toThrow(/no READ line.*Input\/output error/s);
  });
});

describe('mismatchedKeys', () => {
  const expected = new Map([['p/a', A], ['p/b', B]]);

  it.each([
    ['every sum matches', new Map([['a', A], ['b', B]]), []],
    ['a sum differs', new Map([['a', A], ['b', A]]), ['p/b']],
    ['a file was not read', new Map([['a', A]]), ['p/b']],
    ['a file is not in the bucket', new Map([['a', A], ['b', B], ['c', A]]), ['p/c']],
  ])('when %s', (_what, sums, wrong) => {
    expect(mismatchedKeys({ files: sums.size, bytes: 0, seconds: 1, sums }, expected, 'p/')).toEqual(wrong);
  });
});

describe('readerScript', () => {
  it('reads from the given directory with sha256sum and ends with the READ line', () => {
    const script = readerScript('/mnt/datasets/imagenet');
    expect(script).toContain('cd "/mnt/datasets/imagenet"');
    expect(script).toMatch(/xargs -0 -P \d+ -n \d+ sha256sum/);
    expect(script).toContain('echo "READ files=$files bytes=$bytes ns=$((end - start))"');
  });
});
