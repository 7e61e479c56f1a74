/**
 * The pod runner, specified with /bin/sh pods (busybox stands for this machine's /bin/sh, node
 * for this Node): ordering, probes, env, volumes, propagation, teardown. Needs root (mount
 * namespaces and mounts), as the FUSE tests do.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { containerResult, runPod, type PodEvent, type PodResult, type RunPodOptions } from './pod-runner';
import { mountsUnder } from './kubelet-volumes';
import { freePort } from './free-port';
import { isAlive } from './process-alive';

const execFileAsync = promisify(execFile);

let nodeRoot: string;

beforeEach(async () => {
  nodeRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'pod-runner-test-'));
});

afterEach(async () => {
  expect(await mountsUnder(nodeRoot)).toEqual([]);
  await fs.rm(nodeRoot, { recursive: true, force: true });
});

function pod(spec: { initContainers?: IContainer[]; containers: IContainer[]; volumes?: IVolume[] }, grace = 5): IPod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'demo', namespace: 'ml', labels: { app: 'demo' } },
    spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: grace, ...spec },
  };
}

function sh(name: string, script: string, extra: Partial<IContainer> = {}): IContainer {
  return { name, image: 'busybox:1.36', command: ['/bin/sh', '-c', script], ...extra };
}

async function run(p: IPod, extra: Partial<RunPodOptions> = {}): Promise<PodResult> {
  const result = await runPod({ pod: p, nodeRoot, nodeName: 'node-a', timeoutMs: 30_000, ...extra });
  for (const container of result.containers) expect(isAlive(container.pid)).toBe(false);
  expect(result.leftoverMounts).toEqual([]);
  return result;
}

function indexOfEvent(events: PodEvent[], object: string, reason: string, contains = ''): number {
  const index = events.findIndex((e) => e.object === object && e.reason === reason && e.message.includes(contains));
  if (index < 0) throw new Error(`no ${reason} event for ${object}: ${JSON.stringify(events, null, 1)}`);
  return index;
}


const SHARED: IVolume = { name: 'shared', emptyDir: {} };

describe('runPod', () => {
  describe('when the pod is not a valid Pod', () => {
    it('refuses it before running anything', async () => {
      const invalid = { ...pod({ containers: [sh('app', 'true')] }), spec: { containers: [{ image: 'busybox' }] } };
      await expect(runPod({ pod: invalid as unknown as IPod, nodeRoot })).rejects.toThrow(/Pod schema/);
    });
  });

  describe('when every container exits 0', () => {
    it('succeeds with each exit code and log', async () => {
      const result = await run(pod({ containers: [sh('a', 'echo out; echo err >&2'), sh('b', 'exit 0')] }));
      expect(result.phase).toBe('Succeeded');
      expect(containerResult(result, 'a')).toMatchObject({ exitCode: 0, stdout: 'out\n', stderr: 'err\n' });
      expect(containerResult(result, 'b').exitCode).toBe(0);
    });
  });

  describe('when the pod has a native sidecar with a startupProbe', () => {
    // The sidecar becomes ready 1.5 s after it starts; the app notes whether it was ready then.
    const readyAfterDelay = 'sleep 1.5; touch /shared/ready; exec sleep 600';
    const probes: Array<[string, (port: number) => Partial<IContainer>]> = [
      ['httpGet', (port) => ({
        image: 'node:20',
        command: [process.execPath, '-e', `setTimeout(() => { require('fs').writeFileSync('/shared/ready', ''); require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1'); }, 1500)`],
        startupProbe: { httpGet: { path: '/readyz', port: 'probe' }, periodSeconds: 1, failureThreshold: 10 },
        ports: [{ name: 'probe', containerPort: port }],
      })],
      ['tcpSocket', (port) => ({
        image: 'node:20',
        command: [process.execPath, '-e', `setTimeout(() => { require('fs').writeFileSync('/shared/ready', ''); require('net').createServer().listen(${port}, '127.0.0.1'); }, 1500)`],
        startupProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 10 },
      })],
      ['exec', () => ({
        command: ['/bin/sh', '-c', readyAfterDelay],
        startupProbe: { exec: { command: ['test', '-f', '/shared/ready'] }, periodSeconds: 1, failureThreshold: 10 },
      })],
    ];

    it.each(probes)('starts init containers and the app only after its %s probe passed', async (_kind, sidecarSpec) => {
      const port = await freePort();
      const mount = [{ name: 'shared', mountPath: '/shared' }];
      const result = await run(pod({
        volumes: [SHARED],
        initContainers: [
          { name: 'sidecar', image: 'busybox', restartPolicy: 'Always', volumeMounts: mount, ...sidecarSpec(port) },
          sh('setup', 'test -f /shared/ready && echo setup > /shared/order', { volumeMounts: mount }),
        ],
        containers: [sh('app', 'test -f /shared/ready && cat /shared/order', { volumeMounts: mount })],
      }));
      expect(result.phase).toBe('Succeeded');
      expect(containerResult(result, 'app').stdout).toBe('setup\n');
      const events = result.events;
      expect(indexOfEvent(events, 'sidecar', 'Started', 'startupProbe passed')).toBeLessThan(indexOfEvent(events, 'setup', 'Started'));
      expect(indexOfEvent(events, 'setup', 'Completed')).toBeLessThan(indexOfEvent(events, 'app', 'Started'));
      // The sidecar outlives the app and is stopped by the runner.
      expect(containerResult(result, 'sidecar').signal ?? containerResult(result, 'sidecar').exitCode).not.toBeNull();
    });

    it('fails the pod when the probe never passes, without starting the app', async () => {
      const probe: IProbe = { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 2 };
      const result = await run(pod({
        initContainers: [sh('sidecar', 'exec sleep 600', { restartPolicy: 'Always', startupProbe: probe })],
        containers: [sh('app', 'true')],
      }));
      expect(result).toMatchObject({ phase: 'Failed', reason: 'StartupProbeFailed' });
      expect(result.containers.map((c) => c.name)).toEqual(['sidecar']);
      expect(result.events.filter((e) => e.reason === 'Unhealthy')).toHaveLength(2);
    });
  });

  describe('when it runs like a Job', () => {
    it('ends with the app\'s exit code and the sidecar stopped with SIGTERM', async () => {
      const result = await run(pod({
        initContainers: [sh('sidecar', 'trap "echo got TERM; exit 0" TERM; while true; do sleep 0.1; done', { restartPolicy: 'Always' })],
        // The app lives long enough for the sidecar's shell to have installed its trap.
        containers: [sh('app', 'sleep 0.5; exit 3')],
      }));
      expect(result).toMatchObject({ phase: 'Failed', reason: 'Error' });
      expect(containerResult(result, 'app').exitCode).toBe(3);
      expect(containerResult(result, 'sidecar')).toMatchObject({ exitCode: 0, stdout: 'got TERM\n' });
      expect(indexOfEvent(result.events, 'app', 'Error')).toBeLessThan(indexOfEvent(result.events, 'sidecar', 'Killing'));
    });

    it('SIGKILLs a sidecar that ignores SIGTERM once the grace period is over', async () => {
      const result = await run(pod({
        initContainers: [sh('stubborn', 'trap "" TERM; while true; do sleep 0.1; done', { restartPolicy: 'Always' })],
        containers: [sh('app', 'sleep 0.5')],
      }, 1));
      expect(result.phase).toBe('Succeeded');
      expect(containerResult(result, 'stubborn').signal).toBe('SIGKILL');
    });

    it('stops sidecars in reverse order', async () => {
      const result = await run(pod({
        initContainers: [
          sh('first', 'exec sleep 600', { restartPolicy: 'Always' }),
          sh('second', 'exec sleep 600', { restartPolicy: 'Always' }),
        ],
        containers: [sh('app', 'true')],
      }));
      expect(indexOfEvent(result.events, 'second', 'Killing')).toBeLessThan(indexOfEvent(result.events, 'first', 'Killing'));
    });
  });

  describe('when an init container fails', () => {
    it('fails the pod with Init:Error and never starts the app', async () => {
      const result = await run(pod({ initContainers: [sh('init', 'exit 7')], containers: [sh('app', 'true')] }));
      expect(result).toMatchObject({ phase: 'Failed', reason: 'Init:Error', message: 'init container init exited with code 7' });
      expect(result.containers.map((c) => c.name)).toEqual(['init']);
    });
  });

  describe('when a container refers to a Secret key that does not exist', () => {
    it('fails with the kubelet\'s CreateContainerConfigError message', async () => {
      const secrets: ISecret[] = [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'ml' }, data: {} }];
      const app = sh('app', 'true', { env: [{ name: 'KEY', valueFrom: { secretKeyRef: { name: 'creds', key: 'AWS_SECRET_ACCESS_KEY' } } }] });
      const result = await run(pod({ containers: [app] }), { secrets });
      expect(result).toMatchObject({
        phase: 'Failed',
        reason: 'CreateContainerConfigError',
        message: "couldn't find key AWS_SECRET_ACCESS_KEY in Secret ml/creds",
      });
    });
  });

  describe('when a container has env and $(VAR) in its args', () => {
    it('runs with the resolved environment', async () => {
      const secrets: ISecret[] = [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'ml' }, data: { key: Buffer.from('S3RVER').toString('base64') } }];
      const app: IContainer = {
        name: 'app',
        image: 'busybox',
        command: ['/bin/sh', '-c'],
        args: ['echo "$POD/$NODE/$KEY/$(GREETING)"'],
        env: [
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'KEY', valueFrom: { secretKeyRef: { name: 'creds', key: 'key' } } },
          { name: 'GREETING', value: 'hi-$(POD)' },
        ],
      };
      const result = await run(pod({ containers: [app] }), { secrets });
      expect(containerResult(result, 'app').stdout).toBe('demo/node-a/S3RVER/hi-demo\n');
    });
  });

  describe('when the image has no local stand-in', () => {
    it('fails with ErrImagePull', async () => {
      const result = await run(pod({ containers: [{ name: 'app', image: 'registry.example.com/unknown:1' }] }));
      expect(result).toMatchObject({ phase: 'Failed', reason: 'ErrImagePull' });
    });
  });

  describe('when containers share volumes', () => {
    it('shares an emptyDir between two running containers', async () => {
      const mount = [{ name: 'shared', mountPath: '/mnt/work' }];
      const result = await run(pod({
        volumes: [SHARED],
        containers: [
          sh('writer', 'echo from-writer > /mnt/work/note', { volumeMounts: mount }),
          sh('reader', 'for i in $(seq 100); do [ -f /mnt/work/note ] && exec cat /mnt/work/note; sleep 0.1; done; exit 1', { volumeMounts: mount }),
        ],
      }));
      expect(containerResult(result, 'reader')).toMatchObject({ exitCode: 0, stdout: 'from-writer\n' });
    });

    it('enforces readOnly mounts', async () => {
      const result = await run(pod({
        volumes: [SHARED],
        initContainers: [sh('fill', 'echo data > /data/file', { volumeMounts: [{ name: 'shared', mountPath: '/data' }] })],
        containers: [sh('app', 'cat /data/file; echo x > /data/other', { volumeMounts: [{ name: 'shared', mountPath: '/data', readOnly: true }] })],
      }));
      const app = containerResult(result, 'app');
      // One object, so that a failure shows all three (a flake in CI once showed only stdout "").
      expect({ stdout: app.stdout, stderr: app.stderr, failed: app.exitCode !== 0 })
        .toEqual({ stdout: 'data\n', stderr: expect.stringMatching(/Read-only file system/) as unknown, failed: true });
    });

    it('maps hostPath under nodeRoot, so two pods on one node share it', async () => {
      const volumes: IVolume[] = [{ name: 'cache', hostPath: { path: '/var/lib/datamount/cache', type: 'DirectoryOrCreate' } }];
      const volumeMounts = [{ name: 'cache', mountPath: '/cache' }];
      await run(pod({ volumes, containers: [sh('first', 'echo kept > /cache/block', { volumeMounts })] }));
      const second = await run(pod({ volumes, containers: [sh('second', 'cat /cache/block', { volumeMounts })] }));
      expect(containerResult(second, 'second').stdout).toBe('kept\n');
      expect(await fs.readFile(path.join(nodeRoot, 'var/lib/datamount/cache/block'), 'utf8')).toBe('kept\n');
    });

    it('projects configMap and secret volumes as files', async () => {
      const configMaps = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'ml' }, data: { 'mode.txt': 'fast' } }];
      const secrets: ISecret[] = [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'ml' }, data: { key: Buffer.from('S3RVER').toString('base64') } }];
      const result = await run(pod({
        volumes: [
          { name: 'settings', configMap: { name: 'settings' } },
          { name: 'creds', secret: { secretName: 'creds', items: [{ key: 'key', path: 'aws/access-key' }] } },
        ],
        containers: [sh('app', 'cat /etc/settings/mode.txt; echo; cat /etc/creds/aws/access-key', {
          volumeMounts: [{ name: 'settings', mountPath: '/etc/settings', readOnly: true }, { name: 'creds', mountPath: '/etc/creds', readOnly: true }],
        })],
      }), { configMaps: configMaps as RunPodOptions['configMaps'], secrets });
      expect(containerResult(result, 'app').stdout).toBe('fast\nS3RVER');
    });

    it('keeps container paths out of the real root', async () => {
      const result = await run(pod({
        volumes: [SHARED],
        containers: [sh('app', 'touch /pod-runner-scratch-file; ls -d /mnt/pod-runner-test-path', { volumeMounts: [{ name: 'shared', mountPath: '/mnt/pod-runner-test-path' }] })],
      }));
      expect(containerResult(result, 'app').exitCode).toBe(0);
      await expect(fs.stat('/mnt/pod-runner-test-path')).rejects.toThrow(/ENOENT/);
      await expect(fs.stat('/pod-runner-scratch-file')).rejects.toThrow(/ENOENT/);
    });
  });

  describe('when the node folder is a shared mount (as / is on systemd hosts)', () => {
    it('keeps each container\'s own mounts out of the node\'s mount table', async () => {
      await execFileAsync('mount', ['--bind', nodeRoot, nodeRoot]);
      await execFileAsync('mount', ['--make-shared', nodeRoot]);
      let duringRun: string[] = [];
      try {
        const result = await run(pod({
          volumes: [SHARED],
          containers: [sh('app', 'sleep 0.3', { volumeMounts: [{ name: 'shared', mountPath: '/mnt/data' }] })],
        }), { beforeTeardown: async () => { duringRun = await mountsUnder(nodeRoot); } });
        expect(result.phase).toBe('Succeeded');
      } finally {
        await execFileAsync('umount', [nodeRoot]);
      }
      // The node sees its own folder, the pod's private anchor and the emptyDir — no container roots.
      expect(duringRun.filter((m) => m.includes('/containers/'))).toEqual([]);
      expect(duringRun.some((m) => m.endsWith('kubernetes.io~empty-dir/shared'))).toBe(true);
    });
  });

  describe('when mounts propagate', () => {
    // The mechanism FUSE relies on: the sidecar mounts on its Bidirectional mount, the node and
    // the app (HostToContainer) see it; a mount the app makes stays in the app.
    it('shows the sidecar\'s mount to the node and the app, and not the app\'s back', async () => {
      const sidecar = sh('sidecar', 'mount -t tmpfs probe-fs /export && echo mounted > /export/marker && exec sleep 600', {
        restartPolicy: 'Always',
        securityContext: { privileged: true },
        volumeMounts: [{ name: 'shared', mountPath: '/export', mountPropagation: 'Bidirectional' }],
        startupProbe: { exec: { command: ['test', '-f', '/export/marker'] }, periodSeconds: 1, failureThreshold: 10 },
      });
      const app = [{ name: 'shared', mountPath: '/data', mountPropagation: 'HostToContainer' as const }];
      let seenOnNode = '';
      const result = await run(pod({
        volumes: [SHARED],
        initContainers: [sidecar],
        containers: [
          sh('mounter', 'cat /data/marker && mkdir /data/inner && mount -t tmpfs app-fs /data/inner && touch /data/inner/app-only && touch /data/flag', { volumeMounts: app, securityContext: { privileged: true } }),
          sh('watcher', 'for i in $(seq 100); do [ -f /data/flag ] && break; sleep 0.1; done; cat /data/marker; ls -A /data/inner', { volumeMounts: app }),
        ],
      }), {
        beforeTeardown: async () => {
          const uidDir = path.join(nodeRoot, 'var/lib/kubelet/pods');
          const [uid] = await fs.readdir(uidDir);
          seenOnNode = await fs.readFile(path.join(uidDir, uid ?? '', 'volumes/kubernetes.io~empty-dir/shared/marker'), 'utf8');
        },
      });
      expect(result.phase).toBe('Succeeded');
      expect(seenOnNode).toBe('mounted\n');
      expect(containerResult(result, 'mounter').stdout).toBe('mounted\n');
      // The watcher sees the sidecar's tmpfs (marker, flag) but /data/inner empty: the mounter's tmpfs did not propagate.
      expect(containerResult(result, 'watcher').stdout).toBe('mounted\n');
    });
  });

  describe('when the run is aborted', () => {
    it('stops a running init container too', async () => {
      const controller = new AbortController();
      const result = await run(pod({ initContainers: [sh('init', 'exec sleep 600')], containers: [sh('app', 'true')] }), {
        signal: controller.signal,
        onEvent: (e) => { if (e.object === 'init' && e.reason === 'Started') setTimeout(() => controller.abort(), 300); },
      });
      expect(result).toMatchObject({ phase: 'Failed', reason: 'Aborted' });
      expect(containerResult(result, 'init').signal).toBe('SIGTERM');
      expect(result.containers.map((c) => c.name)).toEqual(['init']);
    });

    it('stops every container and cleans up', async () => {
      const controller = new AbortController();
      const result = await run(pod({
        initContainers: [sh('sidecar', 'exec sleep 600', { restartPolicy: 'Always' })],
        // One child in the process group, one that left it with setsid: both must go.
        containers: [sh('app', 'sleep 613 & setsid sleep 614 & sleep 600')],
      }), {
        signal: controller.signal,
        onEvent: (e) => { if (e.object === 'app' && e.reason === 'Started') setTimeout(() => controller.abort(), 300); },
      });
      expect(result).toMatchObject({ phase: 'Failed', reason: 'Aborted' });
      expect(result.events.filter((e) => e.reason === 'Aborted')).toHaveLength(1);
      await expect(execFileAsync('pgrep', ['-f', 'sleep 61[34]'])).rejects.toMatchObject({ code: 1 });
      expect(result.events.some((e) => e.message.includes("left in a container's namespace"))).toBe(true);
      expect(containerResult(result, 'app').signal).toBe('SIGTERM');
    });
  });
});
