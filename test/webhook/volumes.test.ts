import { reconcileByName } from '../../webhook/volumes';

interface Item { name: string; v?: number }
const ours = (item: Item): boolean => item.name.startsWith('dm-');

describe('reconcileByName', () => {
  it.each<[string, Item[], Item[], Item[]]>([
    ['nothing wanted, nothing of ours: the list itself', [{ name: 'a' }], [], [{ name: 'a' }]],
    ['a first injection: ours appended after the pod\'s own, in order', [{ name: 'a' }, { name: 'b' }], [{ name: 'dm-1' }, { name: 'dm-2' }], [{ name: 'a' }, { name: 'b' }, { name: 'dm-1' }, { name: 'dm-2' }]],
    ['ours already there: replaced in place', [{ name: 'dm-1', v: 1 }, { name: 'a' }], [{ name: 'dm-1', v: 2 }], [{ name: 'dm-1', v: 2 }, { name: 'a' }]],
    ['ours no longer wanted: removed', [{ name: 'a' }, { name: 'dm-old' }], [{ name: 'dm-1' }], [{ name: 'a' }, { name: 'dm-1' }]],
    ['a wanted name the pod already uses, not ours: replaced in place, not doubled', [{ name: 'X', v: 1 }, { name: 'a' }], [{ name: 'X', v: 2 }], [{ name: 'X', v: 2 }, { name: 'a' }]],
  ])('%s', (_name, list, wanted, expected) => {
    const result = reconcileByName(list, wanted, ours);
    expect(result).toEqual(expected);
    if (wanted.length === 0) expect(result).toBe(list);
  });

  it('never changes the list it was given', () => {
    const list = [{ name: 'a' }, { name: 'dm-old' }];
    reconcileByName(list, [{ name: 'dm-1' }], ours);
    expect(list).toEqual([{ name: 'a' }, { name: 'dm-old' }]);
  });
});
