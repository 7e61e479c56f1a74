/**
 * The "cluster" the end-to-end tests run against, all real parts on this machine: an s3rver with
 * a small sample dataset, the compiled webhook over HTTPS with the Datasets of
 * fixtures/catalog-datasets.yaml, the API server's admission step (AdmissionReview → patch →
 * stored pod, as demo/admission-client does it), and the pod runner as kubelet. Each test file
 * starts its own, so files can run in parallel (own ports, own node folders).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { parse, parseAllDocuments } from 'yaml';
import { admitPod, type AdmissionOutcome } from '../../demo/admission-client';
import { uploadSampleDataset } from '../../demo/dataset-upload';
import { planSampleDataset, type SampleDatasetSpec } from '../../demo/sample-dataset';
import { startWebhook, type WebhookProcess } from '../../demo/webhook-process';
import { freePort } from '../support/free-port';
import { startS3Server, type S3Server } from '../support/s3-server';
import { repoRoot } from '../support/kubelet-images';
import { removeNodeRoot, runPod, type PodResult, type RunPodOptions } from '../support/pod-runner';

export const BUCKET = 'datamount-e2e';

/** Small enough to read in a few seconds, shaped like the demo's: class folders, a label file, a shard. */
export const E2E_SAMPLE: SampleDatasetSpec = {
  prefix: 'imagenet-sample/',
  classes: 4,
  images: 48,
  minImageBytes: 1024,
  maxImageBytes: 96 * 1024,
  shards: 1,
  shardBytes: 6 * 2 ** 20 + 12345,
  seed: 'datamount-e2e',
};

const FIXTURES = path.join(__dirname, 'fixtures');

export interface LocalCluster {
  s3: S3Server;
  webhook: WebhookProcess;
  /** Key (prefix included) → sha256, each computed from a plain GET of the object. */
  bucketSums: Map<string, string>;
  secrets: ISecret[];
  /** A fresh folder standing for one node (removed by stop()). */
  newNode(): Promise<string>;
  /** Admission in the pod's namespace; throws if denied. Names a generateName pod as the API server does. */
  admit(pod: IPod): Promise<AdmissionOutcome>;
  run(pod: IPod, nodeRoot: string, extra?: Partial<RunPodOptions>): Promise<PodResult>;
  stop(): Promise<void>;
}

export function fixturePod(file: string): IPod {
  return parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as IPod;
}

export async function startLocalCluster(): Promise<LocalCluster> {
  const repo = repoRoot();
  for (const entry of ['dist/webhook/main.js', 'dist/sidecar/main.js']) {
    if (!existsSync(path.join(repo, entry))) throw new Error(`${entry} is missing: the e2e tests run the compiled programs; run \`make build\` first`);
  }
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'datamount-e2e-'));
  const stops: Array<() => Promise<void>> = [() => fs.rm(workDir, { recursive: true, force: true })];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step();
  };
  try {
    const s3 = await startS3Server({ buckets: [BUCKET] });
    stops.push(() => s3.stop());
    const plan = planSampleDataset(E2E_SAMPLE);
    await uploadSampleDataset(E2E_SAMPLE, plan, { endpoint: s3.endpoint, bucket: BUCKET }, () => undefined);
    const bucketSums = new Map<string, string>();
    for (const object of plan) bucketSums.set(object.key, await sha256OfObject(s3.endpoint, object.key));

    const catalog = readFileSync(path.join(FIXTURES, 'catalog-datasets.yaml'), 'utf8')
      .replaceAll('ENDPOINT', s3.endpoint).replaceAll('BUCKET', BUCKET).replaceAll('PREFIX', E2E_SAMPLE.prefix);
    const catalogPath = path.join(workDir, 'catalog.yaml');
    await fs.writeFile(catalogPath, catalog);
    const webhook = await startWebhook({
      repoRoot: repo,
      catalogPath,
      workDir: path.join(workDir, 'tls'),
      env: { DATAMOUNT_SIDECAR_PORT: String(await freePort()), DATAMOUNT_LOG_LEVEL: 'warn' },
    });
    stops.push(() => webhook.stop());
    const secrets = parseAllDocuments(readFileSync(path.join(FIXTURES, 'secrets.yaml'), 'utf8')).map((d) => d.toJS() as ISecret);

    const nodes: string[] = [];
    stops.push(async () => { for (const node of nodes) await removeNodeRoot(node); });
    return {
      s3,
      webhook,
      bucketSums,
      secrets,
      newNode: async () => {
        const node = await fs.mkdtemp(path.join(workDir, 'node-'));
        nodes.push(node);
        return node;
      },
      admit: async (pod) => {
        const outcome = await admitPod(webhook, pod, pod.metadata?.namespace ?? 'default');
        if (!outcome.allowed) throw new Error(`webhook denied the pod (${outcome.code}): ${outcome.message}`);
        if (!outcome.pod.metadata?.name && outcome.pod.metadata?.generateName) {
          outcome.pod.metadata.name = `${outcome.pod.metadata.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
        }
        return outcome;
      },
      // Bounded well inside jest's 60 s test timeout, so a broken sidecar fails fast with its log.
      run: (pod, nodeRoot, extra = {}) => runPod({
        pod, nodeRoot, nodeName: path.basename(nodeRoot), secrets, timeoutMs: 45_000, maxStartupMs: 20_000, ...extra,
      }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Throws with the pod's reason and the last lines of every container's logs unless it Succeeded. */
export function expectSucceeded(result: PodResult): void {
  if (result.phase === 'Succeeded') return;
  throw new Error(`pod ${result.phase}: ${result.reason ?? ''} ${result.message ?? ''}\n${podLogs(result)}`);
}

export function podLogs(result: PodResult): string {
  return result.containers
    .map((c) => `--- ${c.name} (exit ${c.exitCode ?? c.signal}):\n${`${c.stdout}${c.stderr}`.split('\n').slice(-12).join('\n')}`)
    .join('\n');
}

/** `sha256sum` lines (`<hash>  ./relative/path`) as relative path → hash. */
export function parseSums(stdout: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^([0-9a-f]{64}) [ *]\.\/(.+)$/.exec(line);
    if (match?.[1] && match[2]) sums.set(match[2], match[1]);
  }
  return sums;
}

/** The bucket's sums with the dataset prefix taken off the keys, to compare with parseSums. */
export function expectedSums(cluster: LocalCluster): Map<string, string> {
  return new Map([...cluster.bucketSums].map(([key, sum]) => [key.slice(E2E_SAMPLE.prefix.length), sum]));
}

/** Plain GETs of data (not listings) whose key lies in the dataset. */
export function dataGets(cluster: LocalCluster): number {
  return cluster.s3.countGets(E2E_SAMPLE.prefix);
}

function sha256OfObject(endpoint: string, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(`/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`, endpoint);
    http.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${key}: HTTP ${res.statusCode}`));
        return;
      }
      const hash = createHash('sha256');
      res.on('data', (chunk: Buffer) => hash.update(chunk));
      res.on('end', () => resolve(hash.digest('hex')));
      res.on('error', reject);
    }).on('error', reject);
  });
}
