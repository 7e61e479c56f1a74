import { jsonText, withText } from '../../webhook/json-text';

describe('jsonText', () => {
  describe('when the object was made by withText', () => {
    it('is the text JSON.stringify wrote when it was remembered', () => {
      const volume = withText({ name: 'datamount-imagenet', hostPath: { path: '/var/lib/"cache"', type: 'DirectoryOrCreate' }, list: [1, 'é', null] });
      expect(jsonText(volume)).toBe(JSON.stringify(volume));
    });

    it('cannot go stale: the object and everything in it are frozen', () => {
      const mount = withText({ name: 'v', nested: { path: '/a' }, items: [{ x: 1 }] });
      expect(() => { (mount as { name: string }).name = 'w'; }).toThrow(TypeError);
      expect(() => { mount.nested.path = '/b'; }).toThrow(TypeError);
      expect(() => { (mount.items as unknown[]).push({}); }).toThrow(TypeError);
      expect(jsonText(mount)).toBe('{"name":"v","nested":{"path":"/a"},"items":[{"x":1}]}');
    });
  });

  describe('when the value was not remembered', () => {
    it.each<[string, unknown]>([
      ['an object', { a: 1, b: [true, null], c: undefined }],
      ['an array holding a remembered object', [withText({ n: 1 }), { m: 2 }]],
      ['a string that needs escaping', 'quote " backslash \\ newline \n'],
      ['a number', 42],
      ['null', null],
    ])('%s: is what JSON.stringify writes', (_name, value) => {
      expect(jsonText(value)).toBe(JSON.stringify(value));
    });
  });
});
