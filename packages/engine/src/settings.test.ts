import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  getSetting,
  listSettings,
  loadSettings,
  parseByteSize,
  resolveDataDir,
  setSetting,
  settingsAsTree,
  unsetSetting,
} from './settings.js';

describe('settings', () => {
  let dataDir: string;
  const env = {};
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'df-settings-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('finds the data dir: option, then DEEPFORGE_DATA_DIR, then ~/.deepforge', () => {
    expect(resolveDataDir({ env: {} })).toBe(join(homedir(), '.deepforge'));
    expect(resolveDataDir({ env: { DEEPFORGE_DATA_DIR: '/x/y' } })).toBe('/x/y');
    expect(resolveDataDir({ dataDir: '/a', env: { DEEPFORGE_DATA_DIR: '/x/y' } })).toBe('/a');
    expect(resolveDataDir({ env: { DEEPFORGE_DATA_DIR: '~/df' } })).toBe(join(homedir(), 'df'));
  });

  it('has defaults', async () => {
    const s = await loadSettings({ dataDir, env });
    expect(s.values).toEqual({
      'blob.dir': join(dataDir, 'blob'),
      python: undefined,
      'executions.concurrency': availableParallelism(),
      'executions.timeout': 0,
      'executions.onRestart': 'fail',
      'executions.warmWorker': true,
      'logs.maxBytes': 64 * 1024 * 1024,
      'server.port': 8888,
      'server.host': '127.0.0.1',
      'server.publicUrl': undefined,
      'server.trustProxy': false,
      'auth.enabled': false,
      'server.allowedHosts': [],
      'server.uploadLimit': 1024 ** 3,
      'artifacts.importRoots': [homedir()],
      'database.url': undefined,
      'storage.backend': 'local',
      'storage.s3.bucket': undefined,
      'storage.s3.prefix': '',
      'storage.s3.endpoint': undefined,
      'storage.s3.region': undefined,
      'storage.s3.forcePathStyle': false,
      'environments.dir': join(dataDir, 'environments'),
      'environments.maxBytes': 10 * 1024 ** 3,
      'environments.pipArgs': [],
      'worker.cache.dir': join(dataDir, 'cache'),
      'worker.cache.maxBytes': 20 * 1024 ** 3,
      'workers.leaseTimeout': 30,
      'compute.backend': 'local',
      'compute.slurm.partition': undefined,
      'compute.slurm.account': undefined,
      'compute.slurm.time': undefined,
      'compute.slurm.gres': undefined,
    });
    expect(new Set(Object.values(s.sources))).toEqual(new Set(['default']));
  });

  it('chooses Slurm compute, with defaults checked as sbatch takes them', async () => {
    const s = await loadSettings({
      dataDir,
      env: {
        DEEPFORGE_COMPUTE_BACKEND: 'Slurm',
        DEEPFORGE_SLURM_PARTITION: 'gpu',
        DEEPFORGE_SLURM_TIME: '1-00:00',
      },
    });
    expect(s.values['compute.backend']).toBe('slurm');
    expect(s.values['compute.slurm.partition']).toBe('gpu');
    expect(s.values['compute.slurm.time']).toBe('1-00:00');
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_COMPUTE_BACKEND: 'k8s' } })).rejects.toThrow(
      /compute.backend.*`local` or `slurm`/,
    );
    await expect(
      loadSettings({ dataDir, env: { DEEPFORGE_SLURM_PARTITION: 'gpu --wrap=evil' } }),
    ).rejects.toThrow(/compute.slurm.partition.*partition name/);
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_SLURM_TIME: 'an hour' } })).rejects.toThrow(
      /compute.slurm.time.*time limit/,
    );
  });

  it('takes the workers lease timeout in seconds, fractions too, and refuses one too short to heartbeat', async () => {
    expect(
      (await loadSettings({ dataDir, env: { DEEPFORGE_WORKER_LEASE_TIMEOUT: '2.5' } })).values[
        'workers.leaseTimeout'
      ],
    ).toBe(2.5);
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_WORKER_LEASE_TIMEOUT: '0.1' } })).rejects.toThrow(
      /DEEPFORGE_WORKER_LEASE_TIMEOUT.*from 0.5 to 86400/,
    );
  });

  it('reads pip arguments as words or a JSON array', async () => {
    const read = async (v: string): Promise<string[]> =>
      (await loadSettings({ dataDir, env: { DEEPFORGE_ENVIRONMENTS_PIP_ARGS: v } })).values[
        'environments.pipArgs'
      ];
    expect(await read(' --no-index  --find-links /srv/wheels ')).toEqual([
      '--no-index',
      '--find-links',
      '/srv/wheels',
    ]);
    expect(await read('["--find-links", "/a dir"]')).toEqual(['--find-links', '/a dir']);
    await expect(read('[1]')).rejects.toThrow(/DEEPFORGE_ENVIRONMENTS_PIP_ARGS.*JSON array of strings/);
  });

  it('writes dotted keys as nested JSON, atomically, keeping keys it does not know', async () => {
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ mongo: { dir: '~/.deepforge/data' } }));
    await setSetting('blob.dir', '/srv/blobs', { dataDir, env });
    await setSetting('executions.concurrency', '3', { dataDir, env });
    await setSetting('logs.maxBytes', '1MiB', { dataDir, env });
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file).toEqual({
      mongo: { dir: '~/.deepforge/data' },
      blob: { dir: '/srv/blobs' },
      executions: { concurrency: 3 },
      logs: { maxBytes: 1024 * 1024 },
    });
    expect(await readdir(dataDir)).toEqual(['config.json']);
    const got = await getSetting('executions.concurrency', { dataDir, env });
    expect(got).toMatchObject({ value: 3, source: 'config', env: 'DEEPFORGE_CONCURRENCY' });
    await unsetSetting('executions.concurrency', { dataDir, env });
    const after = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(after.executions).toBeUndefined();
  });

  it('lets environment variables win over the file, and caller overrides over both', async () => {
    await setSetting('executions.timeout', 5, { dataDir, env });
    const withEnv = { DEEPFORGE_TIMEOUT: '7', DEEPFORGE_ON_RESTART: 'requeue', DEEPFORGE_BLOB_DIR: '/b' };
    const s = await loadSettings({ dataDir, env: withEnv });
    expect(s.values['executions.timeout']).toBe(7);
    expect(s.sources['executions.timeout']).toBe('env');
    expect(s.values['executions.onRestart']).toBe('requeue');
    expect(s.values['blob.dir']).toBe('/b');
    const o = await loadSettings({ dataDir, env: withEnv, overrides: { 'executions.timeout': 1 } });
    expect(o.values['executions.timeout']).toBe(1);
    expect(o.sources['executions.timeout']).toBe('override');
    const listed = await listSettings({ dataDir, env: withEnv });
    expect(listed.map((e) => e.key)).toContain('python');
  });

  it('rejects unknown keys and bad values, naming the key and what is allowed', async () => {
    await expect(setSetting('torch.dir', '/x', { dataDir, env })).rejects.toThrow(
      /unknown setting `torch.dir`; known settings: blob.dir, python, executions.concurrency/,
    );
    await expect(setSetting('executions.onRestart', 'retry', { dataDir, env })).rejects.toThrow(
      /`executions.onRestart`.*allowed: `fail` or `requeue`/,
    );
    await expect(setSetting('executions.concurrency', '0', { dataDir, env })).rejects.toThrow(
      /executions.concurrency.*integer ≥ 1/,
    );
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_CONCURRENCY: 'lots' } })).rejects.toThrow(
      /DEEPFORGE_CONCURRENCY/,
    );
    await expect(getSetting('nope', { dataDir, env })).rejects.toThrow(/unknown setting `nope`/);
    // Nothing was written by the failed sets.
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('names the file when config.json is broken', async () => {
    await writeFile(join(dataDir, 'config.json'), '{ "blob": ');
    await expect(loadSettings({ dataDir, env })).rejects.toThrow(/config.json is not valid JSON/);
    await writeFile(join(dataDir, 'config.json'), JSON.stringify({ executions: { timeout: -1 } }));
    await expect(loadSettings({ dataDir, env })).rejects.toThrow(/executions.timeout.*config.json/);
  });

  it('parses byte sizes and prints the settings as a tree', () => {
    expect(parseByteSize('64MiB')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('1GB')).toBe(1e9);
    expect(parseByteSize(12)).toBe(12);
    expect(() => parseByteSize('12 parsecs')).toThrow();
    expect(
      settingsAsTree({
        'blob.dir': '/b',
        python: undefined,
        'executions.concurrency': 2,
        'executions.timeout': 0,
        'executions.onRestart': 'fail',
        'executions.warmWorker': true,
        'logs.maxBytes': 10,
        'server.port': 8888,
        'server.host': '0.0.0.0',
        'server.publicUrl': 'https://df.example.org',
        'server.trustProxy': ['10.0.0.0/8'],
        'auth.enabled': true,
        'server.allowedHosts': ['deepforge.lab'],
        'server.uploadLimit': 1024,
        'artifacts.importRoots': ['/data'],
        'database.url': 'postgres://df:s3cret@db.lab:5433/deepforge',
        'storage.backend': 's3',
        'storage.s3.bucket': 'df-artifacts',
        'storage.s3.prefix': 'lab/prod',
        'storage.s3.endpoint': 'http://minio.lab:9000',
        'storage.s3.region': undefined,
        'storage.s3.forcePathStyle': true,
        'environments.dir': '/e',
        'environments.maxBytes': 4096,
        'environments.pipArgs': ['--index-url', 'https://me:token@pypi.lab/simple'],
        'worker.cache.dir': '/c',
        'worker.cache.maxBytes': 2048,
        'workers.leaseTimeout': 2.5,
        'compute.backend': 'slurm',
        'compute.slurm.partition': 'gpu',
        'compute.slurm.account': undefined,
        'compute.slurm.time': '2:00:00',
        'compute.slurm.gres': undefined,
      }),
    ).toEqual({
      blob: { dir: '/b' },
      executions: { concurrency: 2, timeout: 0, onRestart: 'fail', warmWorker: true },
      logs: { maxBytes: 10 },
      server: {
        port: 8888,
        host: '0.0.0.0',
        publicUrl: 'https://df.example.org',
        trustProxy: ['10.0.0.0/8'],
        allowedHosts: ['deepforge.lab'],
        uploadLimit: 1024,
      },
      auth: { enabled: true },
      artifacts: { importRoots: ['/data'] },
      database: { url: 'postgres://df:***@db.lab:5433/deepforge' },
      storage: {
        backend: 's3',
        s3: {
          bucket: 'df-artifacts',
          prefix: 'lab/prod',
          endpoint: 'http://minio.lab:9000',
          forcePathStyle: true,
        },
      },
      environments: { dir: '/e', maxBytes: 4096, pipArgs: ['--index-url', 'https://***@pypi.lab/simple'] },
      worker: { cache: { dir: '/c', maxBytes: 2048 } },
      workers: { leaseTimeout: 2.5 },
      compute: { backend: 'slurm', slurm: { partition: 'gpu', time: '2:00:00' } },
    });
  });

  it('chooses the artifact storage: local by default, or an S3 bucket, credentials never among the settings', async () => {
    const s = await loadSettings({
      dataDir,
      env: {
        DEEPFORGE_STORAGE_BACKEND: 'S3',
        DEEPFORGE_S3_BUCKET: 'df-artifacts',
        DEEPFORGE_S3_PREFIX: '/lab/prod/',
        DEEPFORGE_S3_ENDPOINT: 'http://127.0.0.1:9000/',
        DEEPFORGE_S3_REGION: 'eu-west-1',
        DEEPFORGE_S3_FORCE_PATH_STYLE: 'true',
        AWS_SECRET_ACCESS_KEY: 'never-a-setting',
      },
    });
    expect(s.values).toMatchObject({
      'storage.backend': 's3',
      'storage.s3.bucket': 'df-artifacts',
      'storage.s3.prefix': 'lab/prod',
      'storage.s3.endpoint': 'http://127.0.0.1:9000',
      'storage.s3.region': 'eu-west-1',
      'storage.s3.forcePathStyle': true,
    });
    expect(s.sources['storage.s3.bucket']).toBe('env');
    expect(JSON.stringify(s.values)).not.toContain('never-a-setting');
    // No setting holds a credential: the keys are the AWS SDK's own variables and profiles.
    expect(Object.keys(s.values).filter((k) => /secret|password|key|token|credential/i.test(k))).toEqual([]);

    // Written to config.json as a nested tree, and read back.
    await setSetting('storage.backend', 's3', { dataDir, env });
    await setSetting('storage.s3.bucket', 'my-bucket', { dataDir, env });
    await setSetting('storage.s3.forcePathStyle', 'true', { dataDir, env });
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file.storage).toEqual({ backend: 's3', s3: { bucket: 'my-bucket', forcePathStyle: true } });
    expect((await loadSettings({ dataDir, env })).values['storage.s3.bucket']).toBe('my-bucket');
  });

  it('sets the job input cache: worker.cache.dir and worker.cache.maxBytes, from the environment or config.json', async () => {
    const fromEnv = await loadSettings({
      dataDir,
      env: { DEEPFORGE_WORKER_CACHE: '~/df-cache', DEEPFORGE_WORKER_CACHE_MAX_BYTES: '5GiB' },
    });
    expect(fromEnv.values['worker.cache.dir']).toBe(join(homedir(), 'df-cache'));
    expect(fromEnv.values['worker.cache.maxBytes']).toBe(5 * 1024 ** 3);
    expect(fromEnv.sources['worker.cache.dir']).toBe('env');

    await setSetting('worker.cache.dir', '/tmp/df-cache', { dataDir, env });
    await setSetting('worker.cache.maxBytes', '500MB', { dataDir, env });
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file.worker).toEqual({ cache: { dir: '/tmp/df-cache', maxBytes: 500_000_000 } });
    const s = await loadSettings({ dataDir, env });
    expect(s.values['worker.cache.dir']).toBe('/tmp/df-cache');
    expect(s.values['worker.cache.maxBytes']).toBe(500_000_000);
    // The data dir moves the default with it.
    await unsetSetting('worker.cache.dir', { dataDir, env });
    expect((await loadSettings({ dataDir, env })).values['worker.cache.dir']).toBe(join(dataDir, 'cache'));

    await expect(
      loadSettings({ dataDir, env: { DEEPFORGE_WORKER_CACHE_MAX_BYTES: 'lots' } }),
    ).rejects.toThrow(/worker.cache.maxBytes.*DEEPFORGE_WORKER_CACHE_MAX_BYTES.*byte count/);
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_WORKER_CACHE_MAX_BYTES: '0' } })).rejects.toThrow(
      /worker.cache.maxBytes/,
    );
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_WORKER_CACHE: ' ' } })).rejects.toThrow(
      /worker.cache.dir.*non-empty path/,
    );
  });

  it('refuses bad storage settings, naming the setting, and never echoes credentials put in an endpoint', async () => {
    const bad: [string, string, RegExp][] = [
      ['DEEPFORGE_STORAGE_BACKEND', 'gcs', /storage.backend.*`local` or `s3`/],
      ['DEEPFORGE_S3_BUCKET', 's3://bucket/path', /storage.s3.bucket.*without s3:\/\//],
      ['DEEPFORGE_S3_BUCKET', 'a b', /storage.s3.bucket/],
      ['DEEPFORGE_S3_BUCKET', 'ab', /storage.s3.bucket/],
      ['DEEPFORGE_S3_PREFIX', 'a/../b', /storage.s3.prefix/],
      ['DEEPFORGE_S3_PREFIX', 'a//b', /storage.s3.prefix/],
      ['DEEPFORGE_S3_ENDPOINT', 'minio.lab:9000', /storage.s3.endpoint.*http or https/],
      ['DEEPFORGE_S3_ENDPOINT', 'ftp://minio.lab', /storage.s3.endpoint/],
      ['DEEPFORGE_S3_REGION', 'eu west', /storage.s3.region/],
      ['DEEPFORGE_S3_FORCE_PATH_STYLE', 'yes', /storage.s3.forcePathStyle/],
    ];
    for (const [variable, value, message] of bad) {
      await expect(
        loadSettings({ dataDir, env: { [variable]: value } }),
        `${variable}=${value}`,
      ).rejects.toThrow(message);
    }
    const withSecret = loadSettings({
      dataDir,
      env: { DEEPFORGE_S3_ENDPOINT: 'http://AKIAEXAMPLE:wJalrXUtnFEMI@minio.lab:9000' },
    });
    await expect(withSecret).rejects.toThrow(/credentials never go in the URL.*AWS_ACCESS_KEY_ID/);
    await expect(withSecret).rejects.not.toThrow(/wJalrXUtnFEMI/);
    await expect(withSecret).rejects.toThrow(/http:\/\/\*\*\*@minio.lab:9000/);
  });

  it('checks the network settings: host, public URL, trusted proxies, accounts', async () => {
    const s = await loadSettings({
      dataDir,
      env: {
        ...env,
        DEEPFORGE_HOST: '0.0.0.0',
        DEEPFORGE_PUBLIC_URL: 'https://DF.example.org/',
        DEEPFORGE_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8',
        DEEPFORGE_AUTH: 'on',
      },
    });
    expect(s.values).toMatchObject({
      'server.host': '0.0.0.0',
      'server.publicUrl': 'https://df.example.org',
      'server.trustProxy': ['127.0.0.1', '10.0.0.0/8'],
      'auth.enabled': true,
    });
    await expect(setSetting('server.host', 'example.org', { dataDir, env })).rejects.toThrow(/IP address/);
    await expect(setSetting('server.publicUrl', 'https://x.org/deepforge', { dataDir, env })).rejects.toThrow(
      /without a path/,
    );
    await expect(setSetting('server.trustProxy', 'proxy.lan', { dataDir, env })).rejects.toThrow(
      /not an IP address/,
    );
    await expect(setSetting('auth.enabled', 'maybe', { dataDir, env })).rejects.toThrow(/auth\.enabled/);
  });

  it('takes allowed host names as a comma list or an array, and refuses a wildcard or a non-name', async () => {
    await setSetting('server.allowedHosts', ' DeepForge.lab, .team.example ,', { dataDir, env });
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file.server.allowedHosts).toEqual(['deepforge.lab', '.team.example']);
    const s = await loadSettings({
      dataDir,
      env: { ...env, DEEPFORGE_ALLOWED_HOSTS: 'a.example,b.example' },
    });
    expect(s.values['server.allowedHosts']).toEqual(['a.example', 'b.example']);
    await expect(setSetting('server.allowedHosts', '*', { dataDir, env })).rejects.toThrow(/rebinding/);
    await expect(setSetting('server.allowedHosts', 'evil.example/x', { dataDir, env })).rejects.toThrow(
      /server\.allowedHosts.*not a host name/,
    );
  });

  it('takes import roots as a comma list or a JSON array of absolute paths, ~ for the home folder', async () => {
    await setSetting('artifacts.importRoots', ' /data/sets, ~/datasets ,/data/sets/', { dataDir, env });
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file.artifacts.importRoots).toEqual(['/data/sets', join(homedir(), 'datasets')]);
    const fromEnv = await loadSettings({
      dataDir,
      env: { DEEPFORGE_IMPORT_ROOTS: '["/mnt/a,b", "/srv/c"]' },
    });
    expect(fromEnv.values['artifacts.importRoots']).toEqual(['/mnt/a,b', '/srv/c']);
    expect(fromEnv.sources['artifacts.importRoots']).toBe('env');
    await setSetting('artifacts.importRoots', '[]', { dataDir, env });
    expect((await getSetting('artifacts.importRoots', { dataDir, env })).value).toEqual([]);
    await expect(setSetting('artifacts.importRoots', 'data/sets', { dataDir, env })).rejects.toThrow(
      /artifacts\.importRoots.*"data\/sets" is not an absolute path/,
    );
    await expect(loadSettings({ dataDir, env: { DEEPFORGE_IMPORT_ROOTS: '["/a", ' } })).rejects.toThrow(
      /DEEPFORGE_IMPORT_ROOTS.*JSON array/,
    );
    await expect(setSetting('artifacts.importRoots', [1], { dataDir, env })).rejects.toThrow(/allowed:/);
  });

  it('takes a PostgreSQL database.url and never shows its password', async () => {
    const url = 'postgres://df:s3cr%40t@db.lab:5433/deepforge?sslmode=require';
    const s = await loadSettings({ dataDir, env: { DEEPFORGE_DATABASE_URL: url } });
    expect(s.values['database.url']).toBe(url);
    expect(s.sources['database.url']).toBe('env');

    // Everything meant to be shown masks the password: one value, the list, the tree `deepforge config` prints.
    const shown = 'postgres://df:***@db.lab:5433/deepforge?sslmode=require';
    const set = await setSetting('database.url', url.replace('postgres:', 'postgresql:'), { dataDir, env });
    expect(set.value).toBe(shown.replace('postgres:', 'postgresql:'));
    expect((await getSetting('database.url', { dataDir, env })).value).toBe(
      shown.replace('postgres:', 'postgresql:'),
    );
    const listed = (await listSettings({ dataDir, env })).find((e) => e.key === 'database.url')!;
    expect(listed).toMatchObject({ env: 'DEEPFORGE_DATABASE_URL', source: 'config' });
    expect(JSON.stringify(listed)).not.toContain('s3cr');
    expect(JSON.stringify(settingsAsTree((await loadSettings({ dataDir, env })).values))).not.toContain(
      's3cr',
    );
    // config.json holds it as written, readable by its owner only.
    const file = JSON.parse(await readFile(join(dataDir, 'config.json'), 'utf8'));
    expect(file.database.url).toBe(url.replace('postgres:', 'postgresql:'));
    expect((await stat(join(dataDir, 'config.json'))).mode & 0o777).toBe(0o600);
    await unsetSetting('database.url', { dataDir, env });
    expect((await getSetting('database.url', { dataDir, env })).value).toBeUndefined();

    // Bad values: the error says what is expected and masks what was given.
    const bad = async (value: string): Promise<string> => {
      const err = await loadSettings({ dataDir, env: { DEEPFORGE_DATABASE_URL: value } }).catch(
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      return (err as Error).message;
    };
    expect(await bad('mysql://root:hunter2@db/x')).toMatch(
      /invalid value "mysql:\/\/root:\*\*\*@db\/x" for `database.url` \(from environment variable DEEPFORGE_DATABASE_URL\).*postgres:\/\//,
    );
    // A `#` in the password ends the URL's authority there: the URL does not parse, and nothing of it is shown.
    const raw = await bad('postgres://df:p#ss@db.lab/deepforge');
    expect(raw).toMatch(/percent-encode/);
    expect(raw).toContain('postgres://df:***@db.lab/deepforge');
    expect(raw).not.toMatch(/p#ss|#ss/);
    expect(await bad('postgres:///deepforge')).toMatch(/names no host/);
  });
});
