/**
 * `datamount-sidecar` entry point: dispatches `mount`, `run` and `report`. Each command returns
 * its exit code; the process exits with it, so nothing left on the event loop can keep it alive.
 */
import { MOUNT_USAGE, runMount } from './mount-command';
import { runReporter } from './reporter';
import { runSidecar } from './run-command';

const USAGE = `usage: datamount-sidecar <command>

  mount s3://bucket[/prefix] DIR --endpoint URL [...]   one bucket as a directory (see: mount --help)
  run                                                    in-pod mode, configured by DATAMOUNT_CONFIG
  report                                                 node cache reporter and janitor (DaemonSet)`;

/**
 * The AWS SDK warns at every start that releases after January 2027 need Node 22; that is a note
 * for maintainers (package.json's engines), not for someone mounting a bucket. Other warnings
 * are still printed.
 */
function hideSdkNodeVersionWarning(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (/NodeVersionSupportWarning/.test(`${warning.name} ${warning.message}`)) return;
    process.stderr.write(`${warning.name}: ${warning.message}\n`);
  });
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    if (command === 'mount') {
      process.stdout.write(`${MOUNT_USAGE}\n`);
      return 0;
    }
  }
  switch (command) {
    case 'mount':
      return runMount(rest, env);
    case 'run':
      return runSidecar(rest, env);
    case 'report':
      return runReporter(rest);
    default:
      process.stderr.write(`${command === undefined ? '' : `unknown command "${command}"\n\n`}${USAGE}\n`);
      return 2;
  }
}

// Run when started directly or through the bin/datamount-sidecar shim, not when imported.
if (require.main === module || /datamount-sidecar$/.test(require.main?.filename ?? '')) {
  hideSdkNodeVersionWarning();
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`datamount-sidecar: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
