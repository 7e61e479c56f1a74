/**
 * The command line of `datamount-certs`, read once and validated: every bad flag is named in
 * one error. This is also the only place the program reads its environment.
 */
import { DEFAULT_SERVICE, serviceNameProblem, type WebhookService } from './service-names';
import { DEFAULT_KEY_BITS } from './tls-bundle';
import { TLS_SECRET_NAME, type SecretRef } from './tls-secret';
import { WEBHOOK_CONFIG_NAME } from './webhook-ca-bundle';

export const USAGE = `usage:
  datamount-certs generate [--out DIR] [--secret-yaml FILE] [common flags] [--key-bits 2048|3072|4096]
      writes ca.crt, tls.crt and tls.key to DIR and/or a kubernetes.io/tls Secret to FILE,
      and prints the base64 caBundle for the MutatingWebhookConfiguration
  datamount-certs ensure [common flags] [--webhook-config NAME] [--server URL]
      in the cluster: creates or renews the Secret and patches the caBundle (self-managed mode)
common flags:
  --service NAME      webhook Service (default ${DEFAULT_SERVICE.name})
  --namespace NS      its namespace (default ${DEFAULT_SERVICE.namespace})
  --secret-name NAME  TLS Secret (default ${TLS_SECRET_NAME})`;

export interface GenerateOptions {
  readonly command: 'generate';
  readonly service: WebhookService;
  readonly secret: SecretRef;
  readonly outDir?: string;
  readonly secretYaml?: string;
  readonly keyBits: number;
}

export interface EnsureOptions {
  readonly command: 'ensure';
  readonly service: WebhookService;
  readonly secret: SecretRef;
  readonly webhookConfig: string;
  /** Explicit API server URL (tests, `kubectl proxy`); otherwise the in-cluster address. */
  readonly server?: string;
  readonly kubernetesHost?: string;
  readonly kubernetesPort?: string;
}

export type CliOptions = GenerateOptions | EnsureOptions | { readonly command: 'help' };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const VALUE_FLAGS: Record<'generate' | 'ensure', readonly string[]> = {
  generate: ['--service', '--namespace', '--secret-name', '--out', '--secret-yaml', '--key-bits'],
  ensure: ['--service', '--namespace', '--secret-name', '--webhook-config', '--server'],
};

const KEY_BITS = [2048, 3072, 4096];

function readFlags(command: 'generate' | 'ensure', args: readonly string[], problems: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    const [flag = '', inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (!VALUE_FLAGS[command].includes(flag)) {
      problems.push(`unknown argument ${JSON.stringify(arg)} for ${command} (accepted: ${VALUE_FLAGS[command].join(', ')})`);
      // An unknown `--flag value` is one mistake, not two.
      if (flag.startsWith('--') && inline === undefined && !(args[i + 1] ?? '--').startsWith('--')) i += 1;
      continue;
    }
    const value = inline ?? args[i + 1];
    if (inline === undefined) i += 1;
    if (value === undefined || value === '') problems.push(`${flag} needs a value`);
    else flags.set(flag, value);
  }
  return flags;
}

export function parseCliOptions(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliOptions {
  const [command, ...args] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'generate' && command !== 'ensure') {
    throw new UsageError(`unknown command ${JSON.stringify(command)}: expected generate or ensure\n${USAGE}`);
  }
  const problems: string[] = [];
  const flags = readFlags(command, args, problems);
  const service = {
    name: flags.get('--service') ?? DEFAULT_SERVICE.name,
    namespace: flags.get('--namespace') ?? DEFAULT_SERVICE.namespace,
  };
  const nameProblem = serviceNameProblem(service);
  if (nameProblem !== undefined) problems.push(nameProblem);
  const secret = { name: flags.get('--secret-name') ?? TLS_SECRET_NAME, namespace: service.namespace };

  if (command === 'generate') {
    const bitsText = flags.get('--key-bits');
    const keyBits = bitsText === undefined ? DEFAULT_KEY_BITS : Number(bitsText);
    if (!KEY_BITS.includes(keyBits)) problems.push(`--key-bits ${JSON.stringify(bitsText)}: accepted ${KEY_BITS.join(', ')}`);
    const outDir = flags.get('--out');
    const secretYaml = flags.get('--secret-yaml');
    if (outDir === undefined && secretYaml === undefined) problems.push('generate needs --out DIR, --secret-yaml FILE or both');
    if (problems.length > 0) throw new UsageError(`${problems.join('\n')}\n${USAGE}`);
    return {
      command, service, secret, keyBits,
      ...(outDir === undefined ? {} : { outDir }),
      ...(secretYaml === undefined ? {} : { secretYaml }),
    };
  }

  const server = flags.get('--server');
  if (server !== undefined && !/^https?:\/\/[^/]/.test(server)) problems.push(`--server ${JSON.stringify(server)}: expected an http:// or https:// URL`);
  if (problems.length > 0) throw new UsageError(`${problems.join('\n')}\n${USAGE}`);
  return {
    command, service, secret,
    webhookConfig: flags.get('--webhook-config') ?? WEBHOOK_CONFIG_NAME,
    ...(server === undefined ? {} : { server }),
    ...(env.KUBERNETES_SERVICE_HOST === undefined ? {} : { kubernetesHost: env.KUBERNETES_SERVICE_HOST }),
    ...(env.KUBERNETES_SERVICE_PORT === undefined ? {} : { kubernetesPort: env.KUBERNETES_SERVICE_PORT }),
  };
}
