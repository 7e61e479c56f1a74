/**
 * Probes as the kubelet runs them (pkg/kubelet/prober): `httpGet` succeeds on a status in
 * [200, 400), `tcpSocket` on an accepted connection, `exec` on exit code 0 (run inside the
 * container's mount namespace and root with `nsenter`). Timings and thresholds default as in the
 * API: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1, failureThreshold 3.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IContainerPort } from 'kubernetes-models/v1/ContainerPort';

export interface ProbeTarget {
  podIP: string;
  ports: readonly IContainerPort[];
  /** The container's main process, for `exec` probes. */
  pid: number;
  env: NodeJS.ProcessEnv;
}

export interface ProbeOutcome {
  ok: boolean;
  detail: string;
}

export async function probeOnce(probe: IProbe, target: ProbeTarget): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const { path = '/', scheme = 'HTTP', host, httpHeaders = [] } = probe.httpGet;
    const port = resolvePort(probe.httpGet.port, target.ports);
    const headers = Object.fromEntries(httpHeaders.map((h) => [h.name, h.value]));
    return httpProbe({ scheme, host: host ?? target.podIP, port, path, headers, timeoutMs });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, target.ports);
    return tcpProbe(probe.tcpSocket.host ?? target.podIP, port, timeoutMs);
  }
  if (probe.exec) {
    return execProbe(probe.exec.command ?? [], target, timeoutMs);
  }
  return { ok: false, detail: 'probe has no httpGet, tcpSocket or exec handler the pod runner supports (grpc is not)' };
}

/**
 * Repeats the probe every periodSeconds until it succeeds, `whyStop` names a reason to give up
 * (the container exited, a deadline passed), or failureThreshold consecutive failures.
 * Resolves with the last outcome.
 */
export async function awaitProbeSuccess(
  probe: IProbe,
  target: ProbeTarget,
  whyStop: () => string | undefined,
  onFailure: (outcome: ProbeOutcome, attempt: number) => void,
): Promise<ProbeOutcome> {
  const periodMs = (probe.periodSeconds ?? 10) * 1000;
  const failureThreshold = probe.failureThreshold ?? 3;
  await sleep((probe.initialDelaySeconds ?? 0) * 1000);
  let failures = 0;
  let last: ProbeOutcome | undefined;
  for (;;) {
    const stop = whyStop();
    if (stop) return { ok: false, detail: last ? `${stop}; last probe: ${last.detail}` : stop };
    const outcome = await probeOnce(probe, target);
    last = outcome;
    if (outcome.ok) return outcome;
    failures++;
    onFailure(outcome, failures);
    if (failures >= failureThreshold) return outcome;
    await sleep(periodMs);
  }
}

function resolvePort(port: string | number, ports: readonly IContainerPort[]): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const named = ports.find((p) => p.name === port);
  if (!named) throw new Error(`probe names port ${JSON.stringify(port)}, which the container does not declare`);
  return named.containerPort;
}

interface HttpProbeRequest {
  scheme: string;
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

function httpProbe(req: HttpProbeRequest): Promise<ProbeOutcome> {
  const client = req.scheme === 'HTTPS' ? https : http;
  return new Promise((resolve) => {
    const request = client.get(
      // The kubelet does not verify the certificate of an HTTPS probe.
      { host: req.host, port: req.port, path: req.path, headers: req.headers, timeout: req.timeoutMs, rejectUnauthorized: false },
      (res) => {
        const status = res.statusCode ?? 0;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { if (body.length < 1024) body += chunk; });
        res.on('end', () => resolve({ ok: status >= 200 && status < 400, detail: `HTTP ${status} ${body.trim().slice(0, 200)}` }));
        res.on('error', (err) => resolve({ ok: false, detail: err.message }));
      },
    );
    request.on('timeout', () => request.destroy(new Error(`timeout after ${req.timeoutMs} ms`)));
    request.on('error', (err) => resolve({ ok: false, detail: `GET ${req.path}: ${err.message}` }));
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.on('connect', () => { socket.destroy(); resolve({ ok: true, detail: `connected to ${host}:${port}` }); });
    socket.on('timeout', () => { socket.destroy(); resolve({ ok: false, detail: `timeout connecting to ${host}:${port}` }); });
    socket.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

function execProbe(command: readonly string[], target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
  // -r / -w without a value take the target process's root and working directory.
  const args = ['--target', String(target.pid), '--mount', '--root', '--wd', '--', ...command];
  return new Promise((resolve) => {
    execFile('nsenter', args, { env: target.env, timeout: timeoutMs }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim().slice(0, 200);
      resolve({ ok: !err, detail: err ? `exec ${command.join(' ')}: ${err.message} ${output}` : output });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
