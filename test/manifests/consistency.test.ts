/**
 * The checks that catch a broken install before a cluster does: the names and ports that must
 * agree across the Service, the webhook configuration, the certificate, the Deployment, the
 * DaemonSet, the Jobs, the images and the code's own defaults.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IService } from 'kubernetes-models/v1/Service';
import { parseCliOptions, type EnsureOptions } from '../../certs/cli-options';
import { DEFAULT_SERVICE, serviceDnsNames } from '../../certs/service-names';
import { TLS_SECRET_NAME } from '../../certs/tls-secret';
import { WEBHOOK_CONFIG_NAME } from '../../certs/webhook-ca-bundle';
import { readReporterConfig, REPORTER_USAGE } from '../../sidecar/reporter-config';
import { CONFIG_DEFAULTS, loadConfig } from '../../webhook/config';
import { buildSidecarContainer } from '../../webhook/sidecar-spec';
import { readDockerfile, lastInstruction } from './dockerfile';
import { resolveKustomization } from './kustomize-build';
import { MANIFESTS, ROOT, findObject, type KubeObject } from './manifest-docs';

const install = resolveKustomization(MANIFESTS);
const overlay = resolveKustomization(path.join(MANIFESTS, 'overlays/cert-manager'));
const examples = resolveKustomization(path.join(MANIFESTS, 'examples'));

const service = findObject<IService & KubeObject>(install, 'Service', 'datamount-webhook');
const deployment = findObject<IDeployment & KubeObject>(install, 'Deployment', 'datamount-webhook');
const webhookConfig = findObject<IMutatingWebhookConfiguration & KubeObject>(install, 'MutatingWebhookConfiguration', 'datamount-webhook');
const daemonSet = findObject<IDaemonSet & KubeObject>(install, 'DaemonSet', 'datamount-reporter');
const job = findObject<IJob & KubeObject>(install, 'Job', 'datamount-certs');
const cronJob = findObject<ICronJob & KubeObject>(install, 'CronJob', 'datamount-certs');

const webhookPod = deployment.spec?.template.spec;
const webhookContainer = webhookPod?.containers[0] as IContainer;
const reporterContainer = daemonSet.spec?.template.spec?.containers[0] as IContainer;
const jobContainer = job.spec?.template.spec?.containers[0] as IContainer;
const cronContainer = cronJob.spec?.jobTemplate.spec?.template.spec?.containers[0] as IContainer;
const ourWebhook = webhookConfig.webhooks?.[0];

/** A container's environment as the kubelet would give it, with downward-API fields filled in. */
function resolvedEnv(container: IContainer, pod: { namespace: string; nodeName: string }): Record<string, string> {
  const fields: Record<string, string> = { 'metadata.namespace': pod.namespace, 'spec.nodeName': pod.nodeName };
  return Object.fromEntries((container.env ?? []).map((e: IEnvVar) => {
    const fieldPath = e.valueFrom?.fieldRef?.fieldPath;
    if (fieldPath !== undefined) {
      const value = fields[fieldPath];
      if (value === undefined) throw new Error(`${e.name}: fieldRef ${fieldPath} is not filled in by this test`);
      return [e.name, value];
    }
    if (e.valueFrom !== undefined) throw new Error(`${e.name}: only value and fieldRef are expected here`);
    return [e.name, e.value ?? ''];
  }));
}

function containerPort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function entrypoint(file: string): unknown {
  const text = lastInstruction(readDockerfile(path.join(ROOT, file)).stages.at(-1), 'ENTRYPOINT');
  return text === undefined ? undefined : JSON.parse(text);
}

const webhookEnv = resolvedEnv(webhookContainer, { namespace: deployment.metadata.namespace ?? '', nodeName: 'node-a' });
const webhookConfigFromManifest = loadConfig(webhookEnv);

describe('the webhook Service, configuration, certificate and Deployment', () => {
  it('are the Service the certificate names by default', () => {
    expect({ name: service.metadata.name, namespace: service.metadata.namespace }).toEqual(DEFAULT_SERVICE);
  });

  it('the webhook configuration calls that Service on its port, at /mutate', () => {
    expect(ourWebhook?.clientConfig.service).toEqual({
      name: service.metadata.name, namespace: service.metadata.namespace, port: service.spec?.ports?.[0]?.port, path: '/mutate',
    });
    expect(readFileSync(path.join(ROOT, 'webhook/server.ts'), 'utf8')).toContain("app.post('/mutate'");
  });

  it('the API server dials a name in the certificate', () => {
    expect(serviceDnsNames(DEFAULT_SERVICE)).toContain(`${service.metadata.name}.${service.metadata.namespace}.svc`);
  });

  it('the Service reaches the container port the webhook listens on', () => {
    const target = service.spec?.ports?.[0]?.targetPort;
    expect(service.spec?.ports?.[0]?.port).toBe(443);
    expect(containerPort(webhookContainer, target)).toBe(webhookConfigFromManifest.port);
    expect(webhookConfigFromManifest.port).toBe(Number(CONFIG_DEFAULTS.DATAMOUNT_PORT));
  });

  it('the Service selects the webhook pods', () => {
    expect(deployment.spec?.template.metadata?.labels).toMatchObject(service.spec?.selector ?? { none: 'selector' });
  });

  it.each([['readinessProbe', '/readyz'], ['livenessProbe', '/healthz']] as const)('%s asks %s over HTTPS on the webhook port', (probe, probePath) => {
    const get = webhookContainer[probe]?.httpGet;
    expect(get).toMatchObject({ scheme: 'HTTPS', path: probePath });
    expect(containerPort(webhookContainer, get?.port)).toBe(webhookConfigFromManifest.port);
  });

  it('the TLS Secret is mounted where the webhook reads its certificate and key', () => {
    const volume = webhookPod?.volumes?.find((v) => v.secret?.secretName === TLS_SECRET_NAME);
    const mount = webhookContainer.volumeMounts?.find((m) => m.name === volume?.name);
    expect(volume).toBeDefined();
    expect(path.dirname(webhookConfigFromManifest.tlsCert)).toBe(mount?.mountPath);
    expect(path.dirname(webhookConfigFromManifest.tlsKey)).toBe(mount?.mountPath);
    expect([path.basename(webhookConfigFromManifest.tlsCert), path.basename(webhookConfigFromManifest.tlsKey)]).toEqual(['tls.crt', 'tls.key']);
  });

  it('keeps DATAMOUNT_SIDECAR_IMAGE at the env index docs/install.md patches for a private registry', () => {
    const index = /containers\/0\/env\/(\d+)\/value {3}# DATAMOUNT_SIDECAR_IMAGE/.exec(readFileSync(path.join(ROOT, 'docs/install.md'), 'utf8'))?.[1];
    expect(webhookContainer.env?.[Number(index)]?.name).toBe('DATAMOUNT_SIDECAR_IMAGE');
  });

  it("the Deployment's environment gives the contract's defaults", () => {
    expect(webhookConfigFromManifest).toEqual(loadConfig({}));
    for (const [name, value] of Object.entries(webhookEnv)) {
      expect([name, value]).toEqual([name, CONFIG_DEFAULTS[name as keyof typeof CONFIG_DEFAULTS]]);
    }
  });
});

describe('the certificate Job and CronJob', () => {
  it.each([['Job', jobContainer], ['CronJob', cronContainer]] as const)('%s runs datamount-certs ensure for the objects the manifests hold', (_kind, container) => {
    expect(container.command).toEqual(['datamount-certs']);
    const options = parseCliOptions(container.args ?? [], {}) as EnsureOptions;
    expect(options.command).toBe('ensure');
    expect(options.service).toEqual({ name: service.metadata.name, namespace: service.metadata.namespace });
    expect(options.secret).toEqual({ name: TLS_SECRET_NAME, namespace: deployment.metadata.namespace });
    expect(options.webhookConfig).toBe(webhookConfig.metadata.name);
    expect(webhookConfig.metadata.name).toBe(WEBHOOK_CONFIG_NAME);
  });

  it('use the webhook image, which links datamount-certs onto the PATH', () => {
    expect(jobContainer.image).toBe(webhookContainer.image);
    expect(cronContainer.image).toBe(webhookContainer.image);
    expect(readFileSync(path.join(ROOT, 'manifests/images/webhook.Dockerfile'), 'utf8')).toContain('/app/bin/datamount-certs /usr/local/bin/datamount-certs');
  });

  it('run under the certs ServiceAccount, not the webhook one', () => {
    expect(job.spec?.template.spec?.serviceAccountName).toBe('datamount-certs');
    expect(cronJob.spec?.jobTemplate.spec?.template.spec?.serviceAccountName).toBe('datamount-certs');
    expect(webhookPod?.serviceAccountName).toBe('datamount-webhook');
  });
});

describe('the images', () => {
  const packageJson = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

  it('the webhook image starts datamount-webhook, as a non-root user the Deployment also names', () => {
    expect(entrypoint('manifests/images/webhook.Dockerfile')).toEqual(['datamount-webhook']);
    expect(packageJson.bin['datamount-webhook']).toBe('bin/datamount-webhook');
    expect(webhookContainer.image).toBe('ghcr.io/datamount/webhook:0.1.0');
    expect(webhookContainer.command).toBeUndefined();
    const user = lastInstruction(readDockerfile(path.join(ROOT, 'manifests/images/webhook.Dockerfile')).stages.at(-1), 'USER');
    expect(user).toBe(`${webhookPod?.securityContext?.runAsUser}:${webhookPod?.securityContext?.runAsGroup}`);
  });

  it('the sidecar the webhook injects runs `datamount-sidecar run` from the sidecar image', () => {
    const sidecar = buildSidecarContainer(
      { namespace: 'ns', datasets: [], uid: 0, gid: 0, resources: {}, cacheSize: '1Gi', cacheMemory: '1Mi', diskCache: true },
      webhookConfigFromManifest,
    );
    expect(entrypoint('manifests/images/sidecar.Dockerfile')).toEqual(['datamount-sidecar']);
    expect(packageJson.bin['datamount-sidecar']).toBe('bin/datamount-sidecar');
    expect(sidecar.command).toBeUndefined();
    expect(sidecar.args).toEqual(['run']);
    expect(sidecar.image).toBe(CONFIG_DEFAULTS.DATAMOUNT_SIDECAR_IMAGE);
  });

  it('the sidecar program has the `run` and `report` commands the pods ask for', () => {
    const main = readFileSync(path.join(ROOT, 'sidecar/main.ts'), 'utf8');
    expect(main).toContain("case 'run':");
    expect(main).toContain("case 'report':");
  });

  it('the reporter runs `datamount-sidecar report` from the same sidecar image', () => {
    expect(reporterContainer.image).toBe(webhookConfigFromManifest.sidecarImage);
    expect(reporterContainer.command).toBeUndefined();
    expect(reporterContainer.args).toEqual(['report']);
  });
});

describe('the reporter DaemonSet', () => {
  const env = { ...resolvedEnv(reporterContainer, { namespace: daemonSet.metadata.namespace ?? '', nodeName: 'node-a' }), KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  const reporter = readReporterConfig([], env);
  const volume = daemonSet.spec?.template.spec?.volumes?.find((v) => v.hostPath !== undefined);
  const mount = reporterContainer.volumeMounts?.find((m) => m.name === volume?.name);

  it('mounts the node cache the injected sidecars write (the webhook default host path)', () => {
    expect(volume?.hostPath).toEqual({ path: CONFIG_DEFAULTS.DATAMOUNT_CACHE_HOST_PATH, type: 'DirectoryOrCreate' });
    expect(mount?.mountPath).toBe(volume?.hostPath?.path);
    expect(reporter.cacheRoot).toBe(mount?.mountPath);
  });

  it('sets only variables the reporter reads', () => {
    for (const variable of Object.keys(env).filter((name) => name.startsWith('DATAMOUNT_'))) {
      expect([variable, REPORTER_USAGE.includes(`env ${variable}`)]).toEqual([variable, true]);
    }
  });

  it("reports under its node's name into the ConfigMap the manifests ship and the webhook reads", () => {
    const configMap = findObject(install, 'ConfigMap', reporter.configMap);
    expect(reporter.node).toBe('node-a');
    expect(configMap.metadata.namespace).toBe(reporter.namespace);
    expect(reporter.namespace).toBe(webhookConfigFromManifest.namespace);
  });
});

describe('the namespace selector', () => {
  const selector = ourWebhook?.namespaceSelector?.matchExpressions ?? [];
  const matches = (labels: Record<string, string>): boolean => selector.every((e) => {
    const has = labels[e.key];
    if (e.operator === 'In') return has !== undefined && (e.values ?? []).includes(has);
    if (e.operator === 'NotIn') return has === undefined || !(e.values ?? []).includes(has);
    throw new Error(`operator ${e.operator} not handled here`);
  });
  const namespaceLabels = (object: KubeObject): Record<string, string> => ({ ...object.metadata.labels, 'kubernetes.io/metadata.name': object.metadata.name });

  it("lets the examples' namespace in", () => {
    expect(matches(namespaceLabels(findObject(examples, 'Namespace', 'ml-demo')))).toBe(true);
  });

  it.each(['kube-system', 'datamount-system'])('keeps %s out even when it carries the opt-in label', (name) => {
    expect(matches({ 'datamount.dev/injection': 'enabled', 'kubernetes.io/metadata.name': name })).toBe(false);
  });

  it('keeps datamount-system as the manifests make it out', () => {
    expect(matches(namespaceLabels(findObject(install, 'Namespace', 'datamount-system')))).toBe(false);
  });
});

describe('the cert-manager overlay', () => {
  const certificate = findObject<KubeObject & { spec: { secretName: string; dnsNames: string[]; usages: string[]; issuerRef: { kind: string; name: string } } }>(overlay, 'Certificate', TLS_SECRET_NAME);
  const issuer = findObject<KubeObject & { spec: { ca?: { secretName: string } } }>(overlay, 'Issuer', certificate.spec.issuerRef.name);
  const caCertificate = overlay.find((o) => o.kind === 'Certificate' && (o.spec as { secretName?: string }).secretName === issuer.spec.ca?.secretName) as
    (KubeObject & { spec: { isCA: boolean; issuerRef: { name: string } } }) | undefined;

  it('makes the Secret the Deployment mounts, for the Service names, for server auth', () => {
    expect(certificate.spec.secretName).toBe(TLS_SECRET_NAME);
    expect(certificate.spec.dnsNames).toEqual(serviceDnsNames(DEFAULT_SERVICE));
    expect(certificate.spec.usages).toContain('server auth');
  });

  it('signs it with a CA Issuer whose CA certificate comes from the self-signed Issuer', () => {
    expect(caCertificate?.spec.isCA).toBe(true);
    expect(findObject<KubeObject & { spec: { selfSigned?: object } }>(overlay, 'Issuer', caCertificate?.spec.issuerRef.name ?? '').spec.selfSigned).toEqual({});
  });

  it('has the CA injector fill the caBundle from that Certificate', () => {
    const config = findObject(overlay, 'MutatingWebhookConfiguration', WEBHOOK_CONFIG_NAME);
    expect(config.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${certificate.metadata.namespace}/${certificate.metadata.name}`);
  });
});

describe('the examples', () => {
  const datasets = examples.filter((o) => o.kind === 'Dataset');
  const podTemplates = examples.flatMap((o) => {
    if (o.kind === 'Pod') return [{ owner: `Pod ${o.metadata.name}`, namespace: o.metadata.namespace, annotations: o.metadata.annotations ?? {} }];
    const template = (o.spec as { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined)?.template;
    return template ? [{ owner: `${o.kind} ${o.metadata.name}`, namespace: o.metadata.namespace, annotations: template.metadata?.annotations ?? {} }] : [];
  });

  it.each(podTemplates.map((t) => [t.owner, t] as const))('%s asks only for Datasets of its namespace', (_owner, template) => {
    const wanted = (template.annotations['datamount.dev/datasets'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    expect(wanted.length).toBeGreaterThan(0);
    for (const name of wanted) {
      expect(datasets.some((d) => d.metadata.name === name && d.metadata.namespace === template.namespace)).toBe(true);
    }
  });

  it('name Secrets that the examples ship', () => {
    for (const dataset of datasets) {
      const secret = (dataset.spec as { s3: { secretRef?: { name: string } } }).s3.secretRef?.name;
      if (secret !== undefined) expect(findObject(examples, 'Secret', secret).metadata.namespace).toBe(dataset.metadata.namespace);
    }
  });
});
