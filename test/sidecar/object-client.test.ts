import { isObjectError, multipartEtag, ObjectClientError } from '../../sidecar/object-client';

describe('object-client', () => {
  describe('multipartEtag', () => {
    it('is the MD5 of the parts\' binary MD5s followed by the part count, as S3 computes it', () => {
      // Reference values computed independently (Python hashlib) for parts "part one" and "part two".
      const parts = [
        { partNumber: 1, etag: '"3303e12af474ca11d85ed2966a932992"' },
        { partNumber: 2, etag: '"3ea4e15b91a17dc76052c56cfcdf67a2"' },
      ];
      expect(multipartEtag(parts)).toBe('"0732917abc3288784e318ac0aab1757a-2"');
    });
  });

  describe('isObjectError', () => {
    it.each([
      [new ObjectClientError('NotFound', 'gone'), 'NotFound', true],
      [new ObjectClientError('Throttled', 'slow down'), 'NotFound', false],
      [new Error('plain'), undefined, false],
    ] as const)('tells %p of kind %p: %p', (error, kind, expected) => {
      expect(isObjectError(error, kind)).toBe(expected);
    });
  });
});
