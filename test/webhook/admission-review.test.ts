import { readdirSync } from 'node:fs';
import { base64Of, reviewEnvelope, serializeReview } from '../../webhook/admission-review';
import { reviewPod } from '../../webhook/review-pod';
import { FIXTURES, loadRequest, testDeps } from './review-fixtures';

const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));

describe('serializeReview', () => {
  describe('when given the response of any review fixture', () => {
    it.each(fixtures)('%s: is the JSON of the AdmissionReview envelope around it', async (name) => {
      const { response } = await reviewPod(loadRequest(name), testDeps());
      expect(JSON.parse(serializeReview(response))).toEqual(reviewEnvelope(response));
    });
  });

  describe('when the response carries text that JSON must escape', () => {
    it('escapes it in every field but the base64 patch', () => {
      const response = {
        uid: 'u"1',
        allowed: false,
        status: { code: 400, reason: 'BadRequest', message: 'annotation "a\\b":\n(1) bad\u0001' },
        warnings: ['quote " and backslash \\'],
        patch: base64Of('[{"op":"add","path":"/x","value":"é"}]'),
        patchType: 'JSONPatch' as const,
      };
      const text = serializeReview(response);
      expect(JSON.parse(text)).toEqual(reviewEnvelope(response));
      expect(text.endsWith(`,"patch":"${response.patch}"}}`)).toBe(true);
    });

    it('writes a response without a patch as JSON.stringify does', () => {
      const response = { uid: 'u', allowed: true };
      expect(serializeReview(response)).toBe(JSON.stringify(reviewEnvelope(response)));
    });
  });
});

describe('base64Of', () => {
  it.each<[string, string]>([
    ['a short text', '[{"op":"add","path":"/x","value":1}]'],
    ['text with characters beyond ASCII', '{"value":"é ü 日本 🙂"}'],
    ['a text longer than the scratch buffer', 'x'.repeat(64 * 1024 + 7)],
    ['a long text whose last character is several bytes', `${'y'.repeat(64 * 1024 - 2)}🙂`],
  ])('%s: is the base64 of its UTF-8 bytes', (_name, text) => {
    const encoded = base64Of(text);
    expect(encoded).toBe(Buffer.from(text, 'utf8').toString('base64'));
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe(text);
  });
});
