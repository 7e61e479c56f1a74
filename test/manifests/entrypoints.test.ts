/**
 * The images start their programs through the `bin/` shims (ENTRYPOINT ["datamount-webhook"]
 * and so on, linked to /app/bin/*). A program whose main only runs when it is itself the main
 * module does nothing when a shim requires it: the container would exit 0 at once. So each shim
 * is started here as the image starts it, and must reach the program's own checks.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './manifest-docs';

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runShim(command: string, args: string[], env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin', command), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the bin/ shims the images start', () => {
  beforeAll(() => {
    for (const main of ['webhook', 'sidecar', 'certs']) {
      if (!existsSync(path.join(ROOT, 'dist', main, 'main.js'))) throw new Error(`dist/${main}/main.js is missing: run \`make build\` first`);
    }
  });

  it('datamount-webhook runs the webhook (here it stops at the missing certificate)', async () => {
    const exit = await runShim('datamount-webhook', [], {
      DATAMOUNT_TLS_CERT: '/nonexistent/tls.crt', DATAMOUNT_TLS_KEY: '/nonexistent/tls.key', DATAMOUNT_CATALOG: '/nonexistent/catalog.yaml',
    });
    expect(exit.stderr).toContain('datamount-webhook: cannot start');
    expect(exit.code).toBe(1);
  });

  it('datamount-sidecar runs the sidecar program (here it lists its commands)', async () => {
    const exit = await runShim('datamount-sidecar', [], {});
    expect(exit.stderr).toContain('usage: datamount-sidecar <command>');
    expect(exit.code).toBe(2);
  });

  it('datamount-certs runs the certificate program (here its help)', async () => {
    const exit = await runShim('datamount-certs', ['help'], {});
    expect(exit.stdout).toContain('datamount-certs ensure');
    expect(exit.code).toBe(0);
  });
});
