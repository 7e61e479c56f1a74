import { startFakeKubeApi, type FakeKubeApi } from './fake-kube-api';

const DS = 'datamount.dev/v1alpha1';

async function json(res: Response): Promise<any> {
  return res.json();
}

/** Reads watch lines until `count` events arrived or the stream ended. */
async function readEvents(url: string, count: number): Promise<any[]> {
  const res = await fetch(url);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const events: any[] = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      events.push(JSON.parse(buffered.slice(0, nl)));
      buffered = buffered.slice(nl + 1);
    }
  }
  await reader.cancel();
  return events;
}

describe('fake Kubernetes API', () => {
  let api: FakeKubeApi;
  beforeEach(async () => {
    api = await startFakeKubeApi();
  });
  afterEach(async () => {
    await api.stop();
  });

  it('lists, gets and 404s namespaced custom resources', async () => {
    api.seed({ apiVersion: DS, kind: 'Dataset', metadata: { name: 'a', namespace: 'ml' }, spec: {} });
    api.seed({ apiVersion: DS, kind: 'Dataset', metadata: { name: 'b', namespace: 'other' }, spec: {} });
    const list = await json(await fetch(`${api.url}/apis/datamount.dev/v1alpha1/namespaces/ml/datasets`));
    expect(list.kind).toBe('DatasetList');
    expect(list.items.map((i: any) => i.metadata.name)).toEqual(['a']);
    const all = await json(await fetch(`${api.url}/apis/datamount.dev/v1alpha1/datasets`));
    expect(all.items).toHaveLength(2);
    const missing = await fetch(`${api.url}/apis/datamount.dev/v1alpha1/namespaces/ml/datasets/zzz`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).reason).toBe('NotFound');
  });

  it('refuses a stale update with 409 Conflict and a duplicate create with AlreadyExists', async () => {
    const url = `${api.url}/api/v1/namespaces/ns/secrets`;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: {} });
    const created = await json(await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } }));
    const again = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(again.status).toBe(409);
    expect((await json(again)).reason).toBe('AlreadyExists');
    const first = await fetch(`${url}/s`, { method: 'PUT', body: JSON.stringify({ ...created, data: { a: 'MQ==' } }) });
    expect(first.status).toBe(200);
    const stale = await fetch(`${url}/s`, { method: 'PUT', body: JSON.stringify({ ...created, data: { a: 'Mg==' } }) });
    expect(stale.status).toBe(409);
    expect(api.get('v1', 'Secret', 'ns', 's')?.data).toEqual({ a: 'MQ==' });
  });

  it('applies merge patches key by key and json patches', async () => {
    api.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'ns' }, data: { a: '1', b: '2' } });
    const url = `${api.url}/api/v1/namespaces/ns/configmaps/c`;
    await fetch(url, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: '{"data":{"a":null,"c":"3"}}' });
    expect(api.get('v1', 'ConfigMap', 'ns', 'c')?.data).toEqual({ b: '2', c: '3' });
    await fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: '[{"op":"replace","path":"/data/b","value":"9"}]',
    });
    expect(api.get('v1', 'ConfigMap', 'ns', 'c')?.data).toEqual({ b: '9', c: '3' });
  });

  it('replays watch events after a resourceVersion and answers an expired one with 410', async () => {
    const first = api.seed({ apiVersion: DS, kind: 'Dataset', metadata: { name: 'a', namespace: 'ml' } });
    api.seed({ apiVersion: DS, kind: 'Dataset', metadata: { name: 'b', namespace: 'ml' } });
    api.remove(DS, 'Dataset', 'ml', 'a');
    const base = `${api.url}/apis/datamount.dev/v1alpha1/namespaces/ml/datasets?watch=true`;
    const events = await readEvents(`${base}&resourceVersion=${first.metadata.resourceVersion}`, 2);
    expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'b'], ['DELETED', 'a']]);
    api.compactHistory();
    const expired = await readEvents(`${base}&resourceVersion=${first.metadata.resourceVersion}`, 1);
    expect(expired[0].type).toBe('ERROR');
    expect(expired[0].object.code).toBe(410);
  });

  it('streams live events to open watches and can drop them', async () => {
    const base = `${api.url}/apis/datamount.dev/v1alpha1/namespaces/ml/datasets?watch=true&resourceVersion=1`;
    const pending = readEvents(base, 1);
    while (api.openWatches() === 0) await new Promise((r) => setTimeout(r, 5));
    api.seed({ apiVersion: DS, kind: 'Dataset', metadata: { name: 'live', namespace: 'ml' } });
    expect((await pending)[0].object.metadata.name).toBe('live');
    while (api.openWatches() > 0) await new Promise((r) => setTimeout(r, 5));
    const dropped = readEvents(base.replace('resourceVersion=1', `resourceVersion=999`), 5);
    while (api.openWatches() === 0) await new Promise((r) => setTimeout(r, 5));
    api.dropWatches();
    expect(await dropped).toEqual([]);
  });

  it('lets a test inject faults', async () => {
    api.intercept((r) => (r.method === 'GET' ? { status: 503 } : undefined));
    const res = await fetch(`${api.url}/api/v1/namespaces/ns/configmaps`);
    expect(res.status).toBe(503);
    expect(api.requests.at(-1)?.path).toBe('/api/v1/namespaces/ns/configmaps');
  });
});
