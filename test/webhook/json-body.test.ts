import fc from 'fast-check';
import { JsonBodyError, mayHoldPrototypeKey, parseJsonBody, prototypeKeyPath } from '../../webhook/json-body';

/** A key as JSON text, each character written as itself or as a \u escape, as the arbitrary chooses. */
function keyText(key: string, escapes: boolean[]): string {
  const chars = [...key].map((c, i) => (escapes[i % Math.max(1, escapes.length)] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(c).slice(1, -1)));
  return `"${chars.join('')}"`;
}

const KEYS = ['__proto__', 'constructor', 'prototype', 'name', 'proto', 'labels', 'x'];

/** JSON text of nested objects and arrays whose keys include the dangerous ones, sometimes escaped. */
const jsonText: fc.Arbitrary<string> = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.constantFrom('1', '"v"', 'null', 'true', '{}'), tie('object'), tie('array')),
  object: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }), tie('value')), { maxLength: 4 })
    .map((entries) => `{${entries.map(([key, escapes, value]) => `${keyText(key, escapes)}:${value}`).join(',')}}`),
  array: fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
})).object;

describe('parseJsonBody', () => {
  describe('when the body is valid JSON without prototype keys', () => {
    it.each<[string, string, unknown]>([
      ['an object', '{"kind":"AdmissionReview","n":[1,2]}', { kind: 'AdmissionReview', n: [1, 2] }],
      ['an object after a byte-order mark', '\uFEFF{"a":1}', { a: 1 }],
      ['keys that merely contain the words', '{"proto-version":"x","constructor":"a string","constructorArgs":{"prototype":1}}', { 'proto-version': 'x', constructor: 'a string', constructorArgs: { prototype: 1 } }],
      ['a "constructor" object without "prototype"', '{"constructor":{"name":"Pod"}}', { constructor: { name: 'Pod' } }],
      ['escaped characters in ordinary keys and values', '{"\\u0061":"\\u00e9"}', { a: 'é' }],
    ])('returns %s', (_name, text, expected) => {
      expect(parseJsonBody(text)).toEqual(expected);
    });
  });

  describe('when the body is not JSON', () => {
    it.each<[string, string, string]>([
      ['an empty body', '', 'the body is empty'],
      ['a body of blanks', ' \n', 'the body is empty'],
      ['a truncated object', '{"apiVersion": "admission.k8s.io/v1", ', 'the body is not valid JSON: Expected double-quoted property name in JSON at position'],
      ['a missing value', '{"a":}', 'the body is not valid JSON: Unexpected token'],
      ['a truncated literal', 'nul', 'the body is not valid JSON: Unexpected end of JSON input'],
    ])('refuses %s with a JsonBodyError that says what is wrong', (_name, text, message) => {
      expect(() => parseJsonBody(text)).toThrow(JsonBodyError);
      expect(() => parseJsonBody(text)).toThrow(message);
    });
  });

  describe('when the body holds a prototype key', () => {
    it.each<[string, string, string]>([
      ['__proto__ at the top', '{"__proto__":{"polluted":1}}', '/__proto__'],
      ['__proto__ deep in the pod', '{"request":{"object":{"metadata":{"labels":{"__proto__":{"polluted":1}}}}}}', '/request/object/metadata/labels/__proto__'],
      ['__proto__ inside an array', '{"items":[{"a":1},{"__proto__":[]}]}', '/items/1/__proto__'],
      ['__proto__ written with \\u escapes', '{"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":1}}', '/__proto__'],
      ['constructor.prototype', '{"a":{"constructor":{"prototype":{"polluted":1}}}}', '/a/constructor/prototype'],
      ['constructor written with \\u escapes', '{"\\u0063onstructor":{"prototype":{"polluted":1}}}', '/constructor/prototype'],
    ])('refuses %s, naming where', (_name, text, path) => {
      expect(() => parseJsonBody(text)).toThrow(`the body holds a forbidden prototype property at ${path}`);
    });

    it('leaves Object.prototype as it was', () => {
      for (const text of ['{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}']) {
        expect(() => parseJsonBody(text)).toThrow(JsonBodyError);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });
  });
});

describe('prototypeKeyPath', () => {
  it('names where the key is as a JSON pointer, escaping ~ and / in the keys on the way', () => {
    expect(prototypeKeyPath(JSON.parse('{"a/b":{"c~d":[{"__proto__":{}}]}}'))).toBe('/a~1b/c~0d/0/__proto__');
  });
});

describe('mayHoldPrototypeKey', () => {
  it('is true for every JSON text whose parsed value holds a prototype key, however its keys are escaped', () => {
    fc.assert(fc.property(jsonText, (text) => {
      const value: unknown = JSON.parse(text);
      if (prototypeKeyPath(value) !== undefined) expect(mayHoldPrototypeKey(text)).toBe(true);
    }), { numRuns: 2000 });
  });

  it.each([
    ['names neither key and escapes nothing', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"1"}}'],
    ['holds "protocol" and "topologySpreadConstraints", as real pods do', '{"ports":[{"protocol":"TCP"}],"topologySpreadConstraints":[]}'],
    ['spells both words nearly', '{"_proto__":1,"__proto_":2,"x__proto":3,"constructo":4,"onstructor":5,"protoproto":6}'],
  ])('is false for a body that %s, so it is not walked', (_name, text) => {
    expect(mayHoldPrototypeKey(text)).toBe(false);
  });

  it.each([
    ['a __proto__ key', '{"a":{"__proto__":{"x":1}}}'],
    ['a constructor key', '{"constructor":{"prototype":{}}}'],
    ['a __proto__ key after other words holding "proto"', '{"ports":[{"protocol":"TCP"},{"protocol":"UDP"}],"a":{"__proto__":{}}}'],
    ['a constructor key after "topologySpreadConstraints"', '{"topologySpreadConstraints":[],"constructor":{"prototype":{}}}'],
    ['an escaped key', '{"\\u005f_proto__":{}}'],
  ])('is true for a body with %s', (_name, text) => {
    expect(mayHoldPrototypeKey(text)).toBe(true);
  });
});
