import { UsageError, parseCliOptions } from '../../certs/cli-options';

const NO_ENV = {};

describe('parseCliOptions', () => {
  describe('when asked for help', () => {
    it.each([[[]], [['help']], [['--help']], [['-h']]])('returns help for %p', (argv) => {
      expect(parseCliOptions(argv, NO_ENV)).toEqual({ command: 'help' });
    });
  });

  describe('generate', () => {
    it('defaults to the webhook Service, its namespace, the contract Secret name and RSA 2048', () => {
      expect(parseCliOptions(['generate', '--out', 'dir'], NO_ENV)).toEqual({
        command: 'generate',
        service: { name: 'datamount-webhook', namespace: 'datamount-system' },
        secret: { name: 'datamount-webhook-tls', namespace: 'datamount-system' },
        outDir: 'dir',
        keyBits: 2048,
      });
    });

    it('takes --flag=value and --flag value alike', () => {
      expect(parseCliOptions(['generate', '--secret-yaml=s.yaml', '--service', 'hook', '--namespace=ops', '--key-bits', '3072'], NO_ENV)).toEqual({
        command: 'generate',
        service: { name: 'hook', namespace: 'ops' },
        secret: { name: 'datamount-webhook-tls', namespace: 'ops' },
        secretYaml: 's.yaml',
        keyBits: 3072,
      });
    });

    it('names every bad argument in one error', () => {
      expect(() => parseCliOptions(['generate', '--key-bits', '1024', '--service', 'Web_Hook', '--colour', 'red'], NO_ENV)).toThrow(
        new RegExp([
          'unknown argument "--colour" for generate',
          'service name "Web_Hook": expected a DNS label',
          '--key-bits "1024": accepted 2048, 3072, 4096',
          'generate needs --out DIR, --secret-yaml FILE or both',
        ].map((line) => `${line}.*`).join('\\n')),
      );
    });

    it('refuses a flag without a value', () => {
      expect(() => parseCliOptions(['generate', '--out'], NO_ENV)).toThrow(/--out needs a value/);
    });
  });

  describe('ensure', () => {
    it('reads the in-cluster API server address from the environment', () => {
      expect(parseCliOptions(['ensure'], { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' })).toEqual({
        command: 'ensure',
        service: { name: 'datamount-webhook', namespace: 'datamount-system' },
        secret: { name: 'datamount-webhook-tls', namespace: 'datamount-system' },
        webhookConfig: 'datamount-webhook',
        kubernetesHost: '10.96.0.1',
        kubernetesPort: '443',
      });
    });

    it('takes an explicit server and object names', () => {
      expect(parseCliOptions(['ensure', '--server', 'http://127.0.0.1:8001', '--secret-name', 's', '--webhook-config', 'w'], NO_ENV)).toMatchObject({
        server: 'http://127.0.0.1:8001', secret: { name: 's' }, webhookConfig: 'w',
      });
    });

    it.each([['ftp://x'], ['127.0.0.1:8001']])('refuses the server %s', (server) => {
      expect(() => parseCliOptions(['ensure', '--server', server], NO_ENV)).toThrow(/expected an http:\/\/ or https:\/\/ URL/);
    });

    it('does not accept generate-only flags', () => {
      expect(() => parseCliOptions(['ensure', '--out', 'dir'], NO_ENV)).toThrow(UsageError);
    });
  });

  describe('when the command is unknown', () => {
    it('lists the commands', () => {
      expect(() => parseCliOptions(['renew'], NO_ENV)).toThrow(/unknown command "renew": expected generate or ensure/);
    });
  });
});
