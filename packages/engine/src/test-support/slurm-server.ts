import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * A real single-node Slurm for tests (no mocks where the real thing runs here): munged with a key of its own,
 * slurmctld and slurmd from Debian's slurm-wlm, all in a temp dir with a generated slurm.conf, on 127.0.0.1 and
 * free ports, with nothing of /etc or /run used. Clients (sbatch, squeue, scontrol, scancel) find it through
 * SLURM_CONF. The Vitest global setup (scripts/vitest-slurm.setup.ts) starts one for the run and hands its
 * slurm.conf to the test files; a file run without it starts its own on first use. The daemons need root (the
 * slurmd runs jobs as their users); munged runs as the `munge` user the package makes.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** The slurm.conf of the run's Slurm (clients read it through SLURM_CONF). */
    deepforgeSlurmConf?: string;
  }
}

export interface TestSlurmCluster {
  /** The generated slurm.conf; give it to clients as SLURM_CONF. */
  conf: string;
  /** The one partition, `debug` (the default). */
  partition: string;
  stop(): Promise<void>;
}

const SBIN = '/usr/sbin';

/** Whether the daemons are installed (Debian: `apt-get install slurm-wlm munge`). */
export function slurmInstalled(): boolean {
  return ['munged', 'slurmctld', 'slurmd'].every((d) => existsSync(join(SBIN, d)));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A wait that does not keep the process alive by itself. */
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * The daemons run under a small shell that cancels every job, stops them and removes the temp dir when its stdin
 * closes, that is when the process that started it ends, even by SIGKILL: no cluster outlives the test run. (A
 * background job of a non-interactive shell reads /dev/null, hence stdin kept as fd 3.)
 */
// munged is started with setpriv, not runuser: it stays this shell's own child, so it is reaped when it stops.
const SUPERVISOR = `
dir=$1
export SLURM_CONF=$dir/slurm.conf
exec 3<&0
setpriv --reuid=munge --regid=munge --clear-groups ${SBIN}/munged --foreground --force --key-file=$dir/munge-key/munge.key \\
  --socket=$dir/munge/munge.sock --pid-file=$dir/munge/munged.pid --log-file=$dir/munge/munged.log \\
  --seed-file=$dir/munge/munged.seed </dev/null &
m=$!
i=0
while [ ! -S "$dir/munge/munge.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
${SBIN}/slurmctld -D -f $SLURM_CONF </dev/null &
c=$!
${SBIN}/slurmd -D -f $SLURM_CONF </dev/null &
d=$!
read _ <&3 || true
scancel --full --user=$(id -un) 2>/dev/null
sleep 0.3
kill $d $c 2>/dev/null
wait $d $c 2>/dev/null
kill $m 2>/dev/null
wait $m 2>/dev/null
rm -rf "$dir"
`;

export async function startTestSlurm(): Promise<TestSlurmCluster> {
  if (!slurmInstalled()) {
    throw new Error(
      'Slurm is not installed (munged, slurmctld, slurmd in /usr/sbin): run `npm run setup` as root (it ' +
        "installs Debian's slurm-wlm and munge), or `apt-get install slurm-wlm munge`",
    );
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(
      'the test Slurm runs its daemons as root (slurmd starts jobs): run the Slurm tests as root',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'df-slurm-'));
  // Jobs (of any user) reach munge's socket and the spool through it.
  await chmod(dir, 0o755);
  const uid = Number((await run('id', ['-u', 'munge'], process.env)).stdout.trim());
  const gid = Number((await run('id', ['-g', 'munge'], process.env)).stdout.trim());
  for (const sub of ['munge', 'munge-key', 'state', 'spool', 'log']) await mkdir(join(dir, sub));
  // munged checks its directories: the key's readable by munge alone, the socket's reachable by everyone.
  await chown(join(dir, 'munge'), uid, gid);
  await chmod(join(dir, 'munge'), 0o711);
  await chown(join(dir, 'munge-key'), uid, gid);
  await chmod(join(dir, 'munge-key'), 0o700);
  await writeFile(join(dir, 'munge-key', 'munge.key'), randomBytes(1024), { mode: 0o400 });
  await chown(join(dir, 'munge-key', 'munge.key'), uid, gid);

  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const node = hostname().split('.')[0]!;
  const conf = join(dir, 'slurm.conf');
  await writeFile(
    conf,
    [
      'ClusterName=deepforge-test',
      // The node's name must be this host's short name: slurmd finds itself by it.
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${join(dir, 'munge', 'munge.sock')}`,
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core_Memory',
      'DefMemPerCPU=256',
      // No slurmdbd here: sacct has nothing to read; `scontrol show job` keeps ended jobs for MinJobAge.
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${join(dir, 'log', 'jobcomp.txt')}`,
      'JobAcctGatherType=jobacct_gather/none',
      'MpiDefault=none',
      'ReturnToService=2',
      'SchedulerType=sched/backfill',
      // A canceled job gets SIGTERM, then SIGKILL this many seconds later: short, so tests stay fast.
      'KillWait=2',
      'MinJobAge=300',
      'InactiveLimit=0',
      'SlurmctldTimeout=10',
      'SlurmdTimeout=10',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=2 RealMemory=4096 State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );

  const log = join(dir, 'log', 'supervisor.log');
  const out = openSync(log, 'a');
  const child: ChildProcess = spawn('sh', ['-c', SUPERVISOR, 'slurm-supervisor', dir], {
    stdio: ['pipe', out, out],
  });
  closeSync(out);
  // Not waited for: the supervisor ends when this process does.
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  let exited = false;
  const ended = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const deadline = Date.now() + 30_000;
  let state = '';
  while (!exited && Date.now() < deadline) {
    const r = await run('sinfo', ['-h', '-N', '-o', '%T'], env);
    state = r.stdout.trim() || r.stderr.trim();
    if (r.code === 0 && state === 'idle') break;
    // A timer that keeps the process alive: the supervisor and its pipes are unref'd, so with an unref'd wait here
    // nothing would, and Node would end the whole test run (exit code 0, no test run) mid-start.
    await new Promise((r) => setTimeout(r, 200));
  }
  if (state !== 'idle') {
    const tail = async (f: string): Promise<string> =>
      (await readFile(join(dir, 'log', f), 'utf8').catch(() => '')).split('\n').slice(-8).join('\n');
    const why = `${await tail('supervisor.log')}\n${await tail('slurmctld.log')}\n${await tail('slurmd.log')}`;
    child.stdin?.end();
    await Promise.race([ended, delay(5000)]);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`the test Slurm did not come up (node state: ${state || 'none'}):\n${why}`);
  }
  return {
    conf,
    partition: 'debug',
    async stop() {
      child.stdin?.end();
      await Promise.race([ended, delay(15_000)]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let ownCluster: Promise<TestSlurmCluster> | undefined;

/**
 * The slurm.conf of the run's Slurm (from the global setup), or of one started for this test file on first use
 * (stopped when the file's process ends, by the supervisor).
 */
export async function testSlurmConf(): Promise<string> {
  let provided: string | undefined;
  try {
    provided = inject('deepforgeSlurmConf');
  } catch {
    provided = undefined;
  }
  if (provided) return provided;
  ownCluster ??= startTestSlurm();
  return (await ownCluster).conf;
}
