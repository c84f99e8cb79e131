import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import {
  PYTHON_CANDIDATES,
  PYTHON_CHECKS_FILE,
  findRuntimeDir,
  loadSettings,
  pythonEnv,
  resolveDataDir,
  resolvePython,
  type Env,
  type PythonInfo,
  type Settings,
} from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { readCliVersion } from '../version.js';
import { portOption } from './start.command.js';

/** One line of the report: `ok`, a failure with what to do about it, or a fact that needs nothing (`info`). */
export interface Finding {
  status: 'ok' | 'fail' | 'info';
  what: string;
  fix?: string;
}

/** Node's own floor, as package.json's engines states it. */
const MIN_NODE = [20, 19] as const;
/** Importing torch takes seconds on a loaded machine; the check waits this long for it. */
const FULL_CHECK_TIMEOUT_MS = 120_000;
const NVIDIA_SMI_TIMEOUT_MS = 10_000;

interface FullCheck {
  packages?: Record<string, string | null>;
  cuda?: { available: boolean; version: string | null; devices: string[] } | null;
  problems?: string[];
}

function exec(
  command: string,
  args: string[],
  env: Env,
  timeoutMs: number,
): Promise<{ code: number | string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: env as NodeJS.ProcessEnv, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? ((error as NodeJS.ErrnoException).code ?? null) : 0;
        resolve({ code: error?.killed ? 'timeout' : code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

function checkNode(): Finding {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
  return ok
    ? { status: 'ok', what: `Node.js ${process.version}` }
    : {
        status: 'fail',
        what: `Node.js ${process.version} is older than ${MIN_NODE.join('.')}`,
        fix: `install Node.js ${MIN_NODE.join('.')} or newer (https://nodejs.org) and install deepforge again`,
      };
}

/**
 * The interpreter jobs would use (the same resolution and passed-check cache as the engine: docs/adr/0023), then
 * the check with torch for the versions of what operations import.
 */
async function checkPython(settings: Settings, env: Env): Promise<Finding[]> {
  let runtimeDir: string;
  try {
    runtimeDir = findRuntimeDir();
  } catch (err) {
    return [
      {
        status: 'fail',
        what: (err as Error).message,
        fix: 'the installation is incomplete: install deepforge again (npm install -g deepforge)',
      },
    ];
  }
  let info: PythonInfo;
  try {
    info = await resolvePython(settings.values.python, {
      runtimeDir,
      env,
      cacheFile: join(settings.dataDir, PYTHON_CHECKS_FILE),
    });
  } catch (err) {
    return [
      {
        status: 'fail',
        what: (err as Error).message,
        fix:
          'install Debian’s Python with what operations use (apt-get install python3 python3-numpy ' +
          'python3-matplotlib python3-torch), or point deepforge at an interpreter that has them: ' +
          '`deepforge config python /path/to/python3`',
      },
    ];
  }
  const findings: Finding[] = [
    {
      status: 'ok',
      what: `Python ${info.version}: ${info.executable}${settings.values.python === undefined ? ' (found; set it with `deepforge config python`)' : ''}, DeepForge runtime ${info.runtimeVersion}`,
    },
  ];
  const r = await exec(
    info.command,
    ['-m', 'deepforge.check'],
    pythonEnv(env, runtimeDir),
    FULL_CHECK_TIMEOUT_MS,
  );
  let report: FullCheck | undefined;
  try {
    report = JSON.parse(r.stdout) as FullCheck;
  } catch {
    report = undefined;
  }
  if (!report?.packages) {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' ');
    findings.push({
      status: 'fail',
      what: `\`${info.command} -m deepforge.check\` gave no report (${r.code === 'timeout' ? `no answer in ${FULL_CHECK_TIMEOUT_MS / 1000} s` : `exit ${r.code}`}${said ? `: ${said}` : ''})`,
      fix: 'run that command yourself to see what the interpreter says',
    });
    return findings;
  }
  const p = report.packages;
  findings.push({ status: 'ok', what: `numpy ${p.numpy}, matplotlib ${p.matplotlib}` });
  if (p.torch) {
    const cuda = report.cuda;
    findings.push({
      status: 'ok',
      what: `torch ${p.torch}${cuda?.available ? ` with CUDA ${cuda.version} (${cuda.devices.join(', ')})` : ' (CPU only)'}`,
    });
  } else {
    findings.push({
      status: 'fail',
      what: `torch cannot be imported by ${info.executable}`,
      fix:
        'install it for that interpreter (Debian: apt-get install python3-torch), or choose one that has it: ' +
        '`deepforge config python /path/to/python3`',
    });
  }
  return findings;
}

/** GPUs as nvidia-smi lists them; no nvidia-smi is no GPU (jobs run on the CPU), not a failure. */
async function checkGpus(env: Env, torchCuda: boolean | undefined): Promise<Finding> {
  const r = await exec(
    'nvidia-smi',
    ['--query-gpu=index,name,memory.total', '--format=csv,noheader,nounits'],
    env,
    NVIDIA_SMI_TIMEOUT_MS,
  );
  if (r.code === 'ENOENT') {
    return { status: 'info', what: 'GPUs: none (nvidia-smi is not on PATH): operations run on the CPU' };
  }
  if (r.code !== 0) {
    return {
      status: 'fail',
      what: `GPUs: nvidia-smi is there but failed (${r.code === 'timeout' ? `no answer in ${NVIDIA_SMI_TIMEOUT_MS / 1000} s` : `exit ${r.code}`}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n')[0]}` : ''})`,
      fix: 'check the NVIDIA driver (run nvidia-smi yourself; a driver update needs a reboot)',
    };
  }
  const gpus = r.stdout
    .split('\n')
    .map((l) => l.split(',').map((s) => s.trim()))
    .filter((parts) => parts.length >= 3 && parts[0] !== '')
    .map((parts) => `${parts[0]}: ${parts.slice(1, -1).join(',')} (${parts[parts.length - 1]} MiB)`);
  if (gpus.length > 0 && torchCuda === false) {
    return {
      status: 'fail',
      what: `GPUs: ${gpus.join('; ')}, but torch cannot use them (torch.cuda.is_available() is False)`,
      fix: 'install a torch built with CUDA for this driver in the interpreter operations use',
    };
  }
  return { status: 'ok', what: gpus.length > 0 ? `GPUs: ${gpus.join('; ')}` : 'GPUs: nvidia-smi lists none' };
}

function checkPort(host: string, port: number): Promise<Finding> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      resolve({
        status: 'fail',
        what: `port ${port} on ${host}: ${err.code === 'EADDRINUSE' ? 'in use by another program' : err.message}`,
        fix:
          err.code === 'EADDRINUSE'
            ? `stop what listens there, or serve another port: \`deepforge start --port <n>\` or \`deepforge config server.port <n>\``
            : 'choose another address or port: `deepforge config server.host` / `server.port`',
      });
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve({ status: 'ok', what: `port ${port} on ${host} is free` }));
    });
  });
}

async function checkWritable(label: string, dir: string, fix: string): Promise<Finding> {
  const probe = join(dir, `.doctor-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
    return { status: 'ok', what: `${label} ${dir} is writable` };
  } catch (err) {
    return {
      status: 'fail',
      what: `${label} ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      fix,
    };
  }
}

/** Every check, in the order printed. Exported for tests. */
export async function diagnose(env: Env, port: number | undefined): Promise<Finding[]> {
  const findings: Finding[] = [checkNode()];
  // First, and apart from the settings: an unusable data dir is also why its config file cannot be read.
  const dataDir = resolveDataDir({ env });
  const data = await checkWritable(
    'data dir',
    dataDir,
    'make it writable, or use another: DEEPFORGE_DATA_DIR=/path/to/dir (it holds the database, settings and blobs)',
  );
  let settings: Settings;
  try {
    settings = await loadSettings({ env });
  } catch (err) {
    findings.push(data);
    if (data.status === 'ok') {
      findings.push({
        status: 'fail',
        what: (err as Error).message,
        fix: 'correct or remove that setting (`deepforge config <key> --unset`), or fix the config file by hand',
      });
    }
    return findings;
  }
  const [python, blobs, portFinding] = await Promise.all([
    checkPython(settings, env),
    checkWritable(
      'blob dir',
      settings.values['blob.dir'],
      'make it writable, or `deepforge config blob.dir <dir>`',
    ),
    checkPort(settings.values['server.host'], port ?? settings.values['server.port']),
  ]);
  const torchLine = python.find((f) => f.what.startsWith('torch '));
  const torchCuda = torchLine ? torchLine.what.includes('with CUDA') : undefined;
  findings.push(...python, await checkGpus(env, torchCuda), portFinding, data);
  if (settings.values['blob.dir'] !== join(dataDir, 'blob')) findings.push(blobs);
  return findings;
}

export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      'check this machine for DeepForge: Python, numpy, matplotlib, torch, GPUs, the port, the data dir',
    )
    .option('-p, --port <port>', 'the port to check (default: server.port, 8888)', portOption)
    .addHelpText(
      'after',
      `
Each check prints ✓ or ✗; a ✗ says what to do about it. Exit code: 0 when nothing is wrong, 1 otherwise.
The interpreter is the one operations would run with (the python setting, else the first usable of
${PYTHON_CANDIDATES.join(', ')}).`,
    )
    .action(async (opts: { port?: number }) => {
      const color = pc.createColors(Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR);
      ctx.out.write(`DeepForge ${readCliVersion()}\n`);
      const findings = await diagnose(ctx.env, opts.port);
      for (const f of findings) {
        const mark = f.status === 'ok' ? color.green('✓') : f.status === 'fail' ? color.red('✗') : '–';
        ctx.out.write(`${mark} ${f.what}\n`);
        if (f.fix) ctx.out.write(`    fix: ${f.fix}\n`);
      }
      const failed = findings.filter((f) => f.status === 'fail').length;
      ctx.out.write(
        failed === 0
          ? 'Nothing wrong found.\n'
          : `${failed} problem${failed === 1 ? '' : 's'} found: see fix above.\n`,
      );
      ctx.exitCode = failed === 0 ? 0 : 1;
    });
}
