import { DATAMOUNT_CACHE_MEMORY, datamountCacheMemory } from '../../bench/datamount-peer';

describe('datamountCacheMemory (what the report shows beside peak RSS)', () => {
  it.each([
    ['no extra options', [], DATAMOUNT_CACHE_MEMORY],
    ['a larger memory cache', ['--cache-memory', '1536Mi'], '1536Mi'],
    ['the option twice (the sidecar takes the last)', ['--cache-memory', '1Gi', '--metadata-ttl', '5', '--cache-memory', '2Gi'], '2Gi'],
    ['other options only', ['--metadata-ttl', '5'], DATAMOUNT_CACHE_MEMORY],
  ])('with %s', (_name, extra, expected) => {
    expect(datamountCacheMemory(extra)).toBe(expected);
  });
});
