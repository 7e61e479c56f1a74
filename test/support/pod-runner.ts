/**
 * Runs a Pod on this machine the way a kubelet would, so that tests and the demo can take the
 * pod the webhook returned and watch it work: real processes, real mount namespaces, real FUSE.
 *
 * Order (KEP-753 native sidecars, pkg/kubelet/kuberuntime):
 * 1. the pod is checked against the Kubernetes Pod schema (assertValidPod);
 * 2. volumes are prepared on the "node" (`nodeRoot`, see kubelet-volumes.ts);
 * 3. `initContainers` in order: one with `restartPolicy: Always` is a native sidecar — started,
 *    then its startupProbe awaited (periodSeconds/failureThreshold honoured) before the next
 *    one; any other init container runs to completion, and a non-zero exit fails the pod;
 * 4. `containers` all start, and the pod waits for all of them to exit;
 * 5. teardown: app containers still running get SIGTERM, then sidecars get SIGTERM in reverse
 *    order, each with what is left of terminationGracePeriodSeconds before SIGKILL; every
 *    process in a container's namespace is killed; every mount under the pod's folder removed.
 *
 * Differences from a kubelet, on purpose: every container runs once (restartPolicy is not
 * applied: a pod whose containers all exited is finished, as with `Never`); a sidecar whose
 * startupProbe fails or that exits early fails the pod instead of being restarted; a
 * configuration error (missing Secret key…) ends the pod as Failed with the kubelet's reason
 * (CreateContainerConfigError) instead of leaving it Pending. Containers share this machine's
 * network: the pod IP is 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { IPod } from 'kubernetes-models/v1/Pod';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { assertValidPod } from './k8s-schema';
import { expandCommand, resolveContainerEnv } from './kubelet-env';
import { containerArgv, defaultImageTable, repoRoot, resolveImage, type ImageTable } from './kubelet-images';
import { awaitProbeSuccess } from './kubelet-probe';
import { prepareVolumes, releaseMountsUnder, releaseVolumes, type PreparedVolumes } from './kubelet-volumes';
import { forceUnmountAll } from './fuse-cleanup';
import { signalContainer, startContainer, sweepNamespace, type RunningContainer } from './kubelet-container';

export type ContainerKind = 'sidecar' | 'init' | 'app';

export interface PodEvent {
  time: Date;
  type: 'Normal' | 'Warning';
  reason: string;
  /** `pod` or the container's name. */
  object: string;
  message: string;
}

export interface ContainerResult {
  name: string;
  kind: ContainerKind;
  /** The container's main process (also its process group). */
  pid: number;
  /** null when the container never started or was killed by a signal. */
  exitCode: number | null;
  signal: string | null;
  startedAt?: Date;
  finishedAt?: Date;
  stdout: string;
  stderr: string;
}

export interface PodResult {
  phase: 'Succeeded' | 'Failed';
  /** Why the pod failed, in the kubelet's words (Init:Error, Error, CreateContainerConfigError…). */
  reason?: string;
  message?: string;
  containers: ContainerResult[];
  events: PodEvent[];
  /** Mounts that could not be removed (should always be empty). */
  leftoverMounts: string[];
}

export interface RunPodOptions {
  pod: IPod;
  secrets?: readonly ISecret[];
  configMaps?: readonly IConfigMap[];
  nodeName?: string;
  /** A directory standing for the node's root: volumes live under it. */
  nodeRoot: string;
  images?: ImageTable;
  /** Gives up on the pod after this long (also `spec.activeDeadlineSeconds`). */
  timeoutMs?: number;
  /**
   * Fails the pod when a sidecar's startupProbe has not passed this long after the sidecar
   * started, even if its failureThreshold would allow more (tests bound their wait this way).
   */
  maxStartupMs?: number;
  /** Aborting stops the pod (teardown still runs). */
  signal?: AbortSignal;
  onEvent?: (event: PodEvent) => void;
  onLog?: (container: string, stream: 'stdout' | 'stderr', text: string) => void;
  /** Called after the app containers exited, before the sidecars are stopped. */
  beforeTeardown?: () => Promise<void>;
}

const POD_IP = '127.0.0.1';
const LOG_LIMIT = 16 * 2 ** 20;
const DEFAULT_GRACE_SECONDS = 30;

class PodFailure extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}

interface Tracked {
  running: RunningContainer;
  result: ContainerResult;
  outputClosed: Promise<void>;
}

export async function runPod(options: RunPodOptions): Promise<PodResult> {
  assertValidPod(options.pod);
  return new PodRun(options).run();
}

class PodRun {
  private readonly events: PodEvent[] = [];
  private readonly results: ContainerResult[] = [];
  private readonly sidecars: Tracked[] = [];
  /** Init and app containers: the ones that run to completion. */
  private readonly workers: Tracked[] = [];
  /** Every container started, for the namespace sweep at teardown. */
  private readonly started: RunningContainer[] = [];
  private readonly pod: IPod;
  private readonly uid: string;
  private readonly images: ImageTable;
  private readonly repo: string;
  private readonly launchEnv = new Map<string, NodeJS.ProcessEnv>();
  private volumes?: PreparedVolumes;
  private stopping = false;
  private interruption?: PodFailure;

  constructor(private readonly options: RunPodOptions) {
    this.pod = structuredClone(options.pod);
    this.uid = this.pod.metadata?.uid ?? randomUUID();
    this.pod.metadata = { ...this.pod.metadata, uid: this.uid, namespace: this.pod.metadata?.namespace ?? 'default' };
    this.repo = repoRoot();
    this.images = options.images ?? defaultImageTable(this.repo);
  }

  async run(): Promise<PodResult> {
    let failure: PodFailure | undefined;
    const deadlineMs = this.options.timeoutMs ?? (this.pod.spec?.activeDeadlineSeconds ?? 0) * 1000;
    const deadline = deadlineMs > 0 ? setTimeout(() => this.interrupt('DeadlineExceeded', `pod ran longer than ${deadlineMs} ms`), deadlineMs) : undefined;
    const onAbort = (): void => this.interrupt('Aborted', 'the pod run was aborted');
    this.options.signal?.addEventListener('abort', onAbort);
    try {
      this.event('Normal', 'Scheduled', 'pod', `assigned ${this.describe()} to ${this.nodeName}`);
      this.volumes = await prepareVolumes(this.pod, this.uid, this.options.nodeRoot, this.sources());
      await this.runInitContainers();
      await this.runAppContainers();
      await this.options.beforeTeardown?.();
    } catch (err) {
      failure = err instanceof PodFailure ? err : new PodFailure(reasonOf(err), (err as Error).message);
      // An interruption was reported when it happened.
      if (failure !== this.interruption) this.event('Warning', failure.reason, 'pod', failure.message);
    } finally {
      clearTimeout(deadline);
      this.options.signal?.removeEventListener('abort', onAbort);
    }
    await this.teardown();
    const leftoverMounts = this.volumes ? await releaseVolumes(this.volumes.podDir) : [];
    if (leftoverMounts.length > 0) this.event('Warning', 'FailedUnmount', 'pod', `still mounted: ${leftoverMounts.join(', ')}`);
    failure ??= this.appFailure();
    return {
      phase: failure ? 'Failed' : 'Succeeded',
      ...(failure ? { reason: failure.reason, message: failure.message } : {}),
      containers: this.results,
      events: this.events,
      leftoverMounts,
    };
  }

  private get nodeName(): string {
    return this.options.nodeName ?? this.pod.spec?.nodeName ?? 'node-a';
  }

  private sources(): { secrets: readonly ISecret[]; configMaps: readonly IConfigMap[] } {
    return { secrets: this.options.secrets ?? [], configMaps: this.options.configMaps ?? [] };
  }

  private describe(): string {
    return `${this.pod.metadata?.namespace}/${this.pod.metadata?.name ?? this.pod.metadata?.generateName ?? '?'}`;
  }

  private async runInitContainers(): Promise<void> {
    for (const container of this.pod.spec?.initContainers ?? []) {
      this.checkInterrupted();
      if (container.restartPolicy === 'Always') {
        const tracked = await this.start(container, 'sidecar');
        this.sidecars.push(tracked);
        await this.awaitStarted(container, tracked);
        continue;
      }
      const tracked = await this.start(container, 'init');
      this.workers.push(tracked);
      const { code } = await this.finish(tracked);
      this.checkInterrupted();
      if (code !== 0) {
        throw new PodFailure('Init:Error', `init container ${container.name} exited with code ${code ?? 'null (killed)'}`);
      }
    }
  }

  private async awaitStarted(container: IContainer, tracked: Tracked): Promise<void> {
    const probe = container.startupProbe;
    if (!probe) return;
    const startupDeadline = Date.now() + (this.options.maxStartupMs ?? Infinity);
    const outcome = await awaitProbeSuccess(
      probe,
      { podIP: POD_IP, ports: container.ports ?? [], pid: tracked.running.pid, env: this.launchEnv.get(container.name) ?? {} },
      () => {
        if (tracked.running.hasExited()) return 'the container exited before its startupProbe passed';
        if (this.stopping) return 'the pod is stopping';
        if (Date.now() > startupDeadline) return `not started within maxStartupMs (${this.options.maxStartupMs} ms)`;
        return undefined;
      },
      (failed, attempt) => this.event('Warning', 'Unhealthy', container.name, `Startup probe failed (${attempt}): ${failed.detail}`),
    );
    this.checkInterrupted();
    if (!outcome.ok) {
      throw new PodFailure('StartupProbeFailed', `sidecar ${container.name} did not pass its startupProbe: ${outcome.detail}`);
    }
    this.event('Normal', 'Started', container.name, `startupProbe passed: ${outcome.detail}`);
  }

  private async runAppContainers(): Promise<void> {
    const apps: Tracked[] = [];
    for (const container of this.pod.spec?.containers ?? []) {
      this.checkInterrupted();
      const tracked = await this.start(container, 'app');
      apps.push(tracked);
      this.workers.push(tracked);
    }
    await Promise.all(apps.map((app) => this.finish(app)));
    this.checkInterrupted();
  }

  private async start(container: IContainer, kind: ContainerKind): Promise<Tracked> {
    const standIn = resolveImage(container.image, this.images);
    this.event('Normal', 'Pulled', container.name, `image ${container.image} runs as ${[...standIn.entrypoint, ...standIn.cmd].join(' ') || '(its command)'}`);
    const { vars, warnings } = resolveContainerEnv(container, {
      pod: this.pod, ...this.sources(), nodeName: this.nodeName, podIP: POD_IP, hostIP: POD_IP,
    });
    for (const warning of warnings) this.event('Warning', 'InvalidEnvironmentVariableNames', container.name, warning);
    const env: NodeJS.ProcessEnv = { ...standIn.env, HOSTNAME: this.pod.metadata?.name ?? 'pod', ...Object.fromEntries(vars) };
    this.launchEnv.set(container.name, env);
    const argv = containerArgv(standIn, expandCommand(container.command, vars), expandCommand(container.args, vars));
    const security = { ...this.pod.spec?.securityContext, ...container.securityContext };
    const running = await startContainer({
      container,
      argv,
      env,
      workingDir: container.workingDir ?? standIn.workingDir,
      volumePaths: this.volumes?.hostPaths ?? new Map<string, string>(),
      stateDir: path.join(this.volumes?.podDir ?? this.options.nodeRoot, 'containers', container.name),
      hostPathsNeeded: [this.repo, process.execPath],
      ...(security.runAsUser !== undefined ? { runAsUser: security.runAsUser } : {}),
      ...(security.runAsGroup !== undefined ? { runAsGroup: security.runAsGroup } : {}),
    });
    this.started.push(running);
    const result: ContainerResult = { name: container.name, kind, pid: running.pid, exitCode: null, signal: null, startedAt: new Date(), stdout: '', stderr: '' };
    this.results.push(result);
    this.event('Normal', 'Started', container.name, `started ${kind} container (pid ${running.pid}): ${argv.join(' ')}`);
    const outputClosed = new Promise<void>((resolve) => running.process.on('close', () => resolve()));
    for (const stream of ['stdout', 'stderr'] as const) {
      running.process[stream]?.setEncoding('utf8');
      running.process[stream]?.on('data', (text: string) => {
        if (result[stream].length < LOG_LIMIT) result[stream] += text;
        this.options.onLog?.(container.name, stream, text);
      });
    }
    return { running, result, outputClosed };
  }

  /** Waits for a container's exit and records it. */
  private async finish(tracked: Tracked): Promise<{ code: number | null }> {
    const { code, signal } = await tracked.running.exited;
    if (!tracked.result.finishedAt) {
      tracked.result.exitCode = code;
      tracked.result.signal = signal;
      tracked.result.finishedAt = new Date();
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      this.event(code === 0 ? 'Normal' : 'Warning', code === 0 ? 'Completed' : 'Error', tracked.result.name, how);
    }
    // Output is complete once the pipes close; a grandchild holding them open must not hang us.
    // The cap hops once through the event loop's poll phase after its timer: when the loop was
    // held up past the cap, pipe ends already waiting are read before the cap wins (timers run
    // before I/O in a loop turn), so no output that had arrived is lost.
    const capped = delay(2000).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
    await Promise.race([tracked.outputClosed, capped]);
    return { code };
  }

  private interrupt(reason: string, message: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.interruption = new PodFailure(reason, message);
    this.event('Warning', reason, 'pod', message);
    for (const worker of this.workers) signalContainer(worker.running, 'SIGTERM');
  }

  private checkInterrupted(): void {
    if (this.interruption) throw this.interruption;
  }

  private async teardown(): Promise<void> {
    this.stopping = true;
    const graceMs = (this.pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS) * 1000;
    const deadline = Date.now() + graceMs;
    await Promise.all(this.workers.filter((w) => !w.running.hasExited()).map((worker) => this.stop(worker, deadline)));
    for (const sidecar of [...this.sidecars].reverse()) await this.stop(sidecar, deadline);
    for (const running of this.started) {
      const killed = await sweepNamespace(running.namespaceId(), running.exitedAtTicks());
      if (killed > 0) this.event('Warning', 'Killing', 'pod', `killed ${killed} process(es) left in a container's namespace`);
    }
  }

  private async stop(tracked: Tracked, deadline: number): Promise<void> {
    if (!tracked.running.hasExited()) {
      this.event('Normal', 'Killing', tracked.result.name, 'stopping container (SIGTERM)');
      signalContainer(tracked.running, 'SIGTERM');
      const timeLeft = Math.max(0, deadline - Date.now());
      const exitedInTime = await Promise.race([tracked.running.exited.then(() => true), delay(timeLeft).then(() => false)]);
      if (!exitedInTime) {
        this.event('Warning', 'Killing', tracked.result.name, 'grace period over: SIGKILL');
        signalContainer(tracked.running, 'SIGKILL');
      }
    }
    await this.finish(tracked);
    signalContainer(tracked.running, 'SIGKILL');
  }

  /** Failed when an app container did not exit 0 (Kubernetes: the pod fails if any does). */
  private appFailure(): PodFailure | undefined {
    const failed = this.results.filter((r) => r.kind === 'app' && r.exitCode !== 0);
    if (failed.length === 0) return undefined;
    const what = failed.map((r) => `${r.name}: ${r.signal ? `killed by ${r.signal}` : `exit code ${r.exitCode}`}`).join(', ');
    return new PodFailure('Error', `container(s) failed: ${what}`);
  }

  private event(type: PodEvent['type'], reason: string, object: string, message: string): void {
    const event = { time: new Date(), type, reason, object, message };
    this.events.push(event);
    this.options.onEvent?.(event);
  }
}

function reasonOf(err: unknown): string {
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : 'RunnerError';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The pod's container results by name, for assertions and reports. */
export function containerResult(result: PodResult, name: string): ContainerResult {
  const found = result.containers.find((c) => c.name === name);
  if (!found) throw new Error(`the pod has no container ${name} (has: ${result.containers.map((c) => c.name).join(', ')})`);
  return found;
}

/**
 * Deletes a node folder after its pods ran (the node cache with it): unmounts whatever is still
 * mounted there first, and refuses to delete through a mount it could not remove.
 */
export async function removeNodeRoot(nodeRoot: string): Promise<void> {
  await forceUnmountAll(nodeRoot);
  const left = await releaseMountsUnder(nodeRoot);
  if (left.length > 0) throw new Error(`not removing ${nodeRoot}: still mounted: ${left.join(', ')}`);
  await fs.rm(nodeRoot, { recursive: true, force: true });
}
