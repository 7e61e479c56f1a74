import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lastInstruction, readDockerfile } from './dockerfile';
import { ROOT } from './manifest-docs';

const IMAGES = [
  { file: 'manifests/images/webhook.Dockerfile', commands: ['datamount-webhook', 'datamount-certs'], entrypoint: 'datamount-webhook' },
  { file: 'manifests/images/sidecar.Dockerfile', commands: ['datamount-sidecar'], entrypoint: 'datamount-sidecar' },
] as const;

describe.each(IMAGES)('$file', ({ file, commands, entrypoint }) => {
  const { stages } = readDockerfile(path.join(ROOT, file));
  const runtime = stages.at(-1);
  const runs = (stage: typeof runtime): string[] => stage?.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args) ?? [];

  it('builds in stages and runs on Node 20 slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.map((s) => s.from)).toEqual(stages.map(() => 'node:20-bookworm-slim'));
  });

  it('compiles with the dev dependencies in a build stage that the runtime does not keep', () => {
    const build = stages.find((s) => s.name === 'build');
    expect(runs(build)).toEqual(expect.arrayContaining([expect.stringMatching(/^npm ci\b(?!.*--omit=dev)/), 'npx tsc -p tsconfig.build.json']));
    const copies = runtime?.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args) ?? [];
    expect(copies).toEqual(expect.arrayContaining(['--from=build /src/dist dist', '--from=deps /app/node_modules node_modules']));
  });

  it('ships only the production dependencies', () => {
    expect(runs(stages.find((s) => s.name === 'deps')).join('\n')).toMatch(/npm ci --omit=dev/);
  });

  it(`starts ${entrypoint} (exec form) and puts every command it offers on the PATH`, () => {
    expect(JSON.parse(lastInstruction(runtime, 'ENTRYPOINT') ?? 'null')).toEqual([entrypoint]);
    const links = runs(runtime).join('\n');
    for (const command of commands) {
      expect(links).toContain(`ln -s /app/bin/${command} /usr/local/bin/${command}`);
      expect(readFileSync(path.join(ROOT, 'bin', command), 'utf8')).toMatch(/^#!\/usr\/bin\/env (-S )?node( [^\n]*)?\n/);
    }
  });

  it('keeps node_modules, dist and .git out of the build context', () => {
    const ignored = readFileSync(path.join(ROOT, `${file}.dockerignore`), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });
});

describe('the sidecar image', () => {
  const runtime = readDockerfile(path.join(ROOT, 'manifests/images/sidecar.Dockerfile')).stages.at(-1);

  it('has libfuse2 (for fuse-native) and fuse3 (fusermount), and checks the patched fuse-native binding loads', () => {
    const runs = runtime?.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n') ?? '';
    expect(runs).toMatch(/apt-get install -y --no-install-recommends libfuse2 fuse3/);
    expect(runs).toContain(`require('./dist/sidecar/fuse-mount-point.js').reusesThreadState`);
  });

  it('builds fuse-native from source with our patch, and the block crypto module, in the stage whose node_modules it ships', () => {
    const stages = readDockerfile(path.join(ROOT, 'manifests/images/sidecar.Dockerfile')).stages;
    const shipped = runtime?.instructions.find((i) => i.keyword === 'COPY' && /node_modules/.test(i.args))?.args ?? '';
    const from = /--from=(\S+)/.exec(shipped)?.[1];
    const stage = stages.find((candidate) => candidate.name === from);
    const runs = stage?.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n') ?? '';
    expect(runs).toContain('native/build-fuse-native.sh');
    expect(runs).toContain('native/build-block-crypto.sh'); // it writes into node_modules/.datamount
    expect(runs).toMatch(/apt-get install[^\n]*g\+\+[^\n]*make[^\n]*python3[^\n]*patch/);
  });

  it('runs as root, which a privileged FUSE sidecar needs', () => {
    expect(lastInstruction(runtime, 'USER')).toBeUndefined();
  });
});

describe('the webhook image', () => {
  it('runs as a numeric non-root user', () => {
    const user = lastInstruction(readDockerfile(path.join(ROOT, 'manifests/images/webhook.Dockerfile')).stages.at(-1), 'USER');
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
  });
});
