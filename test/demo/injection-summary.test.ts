import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { IPod } from 'kubernetes-models/v1/Pod';
import { injectionSummary } from '../../demo/injection-summary';

const fixture = (name: string): IPod => JSON.parse(readFileSync(path.join(__dirname, 'fixtures', name), 'utf8')) as IPod;

describe('injectionSummary', () => {
  describe('when the webhook injected a dataset', () => {
    const lines = injectionSummary(fixture('pod-before.json'), fixture('pod-after.json'));

    it('names the sidecar, each new volume with where it is mounted, env, markers and hints', () => {
      expect(lines).toEqual([
        '+ native sidecar datamount-sidecar: ghcr.io/datamount/sidecar:0.1.0 run, startupProbe GET /readyz:9090, privileged',
        '+ volume datamount-imagenet (emptyDir) → datamount-sidecar:/datamount/imagenet (Bidirectional), shell:/mnt/datasets/imagenet (HostToContainer, ro)',
        '+ volume datamount-cache-imagenet (hostPath /var/lib/datamount/cache/ml-demo/imagenet) → datamount-sidecar:/var/lib/datamount/cache/ml-demo/imagenet',
        '+ env in datamount-sidecar: DATAMOUNT_CONFIG, DATAMOUNT_IMAGENET_ACCESS_KEY_ID (Secret creds/AWS_ACCESS_KEY_ID)',
        '+ labels: datamount.dev/injected=true',
        '+ annotations: datamount.dev/injected-datasets=imagenet, datamount.dev/cache-hints=node-a=100%',
        '+ node affinity (preferred): node-a weight 100',
      ]);
    });

    it('never prints an environment value', () => {
      expect(lines.join('\n')).not.toContain('"version"');
    });
  });

  describe('when nothing changed', () => {
    it('says nothing', () => {
      expect(injectionSummary(fixture('pod-before.json'), fixture('pod-before.json'))).toEqual([]);
    });
  });
});
