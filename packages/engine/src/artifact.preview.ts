import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ArtifactPreview } from '@deepforge/protocol';
import { ArtifactPreviewSchema } from '@deepforge/protocol/engine';

const PREVIEW_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 32 * 1024 * 1024;

export interface PreviewRequest {
  /** A local file holding the artifact's bytes (withBlobFile). */
  file: string;
  serializer: string;
  /** Shown when the preview itself cannot say. */
  pyType: string | null;
  /**
   * The project's code files by relative path (`codeFiles`: `utils/…`, `serializers/…`, `resources/…`), importable
   * as in a job (a custom serializer may import the project's utils); `serializers/` is registered before the
   * bytes are read.
   */
  code: ReadonlyMap<string, string>;
  /** The interpreter operations run with. */
  python: string;
  /** The directory holding the `deepforge` Python package. */
  runtimeDir: string;
  env: NodeJS.ProcessEnv;
}

/** Runs `python -m deepforge.preview` on a file of an artifact's bytes: what the data looks like, or why not. */
export async function previewArtifactFile(request: PreviewRequest): Promise<ArtifactPreview> {
  const pyType = request.pyType ?? 'unknown';
  let codeDir: string | undefined;
  try {
    if (request.code.size > 0) {
      codeDir = await mkdtemp(join(tmpdir(), 'df-preview-'));
      for (const [rel, content] of request.code) {
        const file = join(codeDir, rel);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, content);
      }
    }
    const args = ['-m', 'deepforge.preview', request.file, '--serializer', request.serializer];
    if (codeDir) args.push('--code-dir', codeDir);
    const { code, stdout, stderr } = await run(request.python, args, {
      ...request.env,
      PYTHONPATH: [request.runtimeDir, request.env.PYTHONPATH].filter(Boolean).join(':'),
      PYTHONDONTWRITEBYTECODE: '1',
      MPLBACKEND: 'Agg',
    });
    if (code !== 0) {
      return { pyType, error: `the preview failed: ${stderr.trim().split('\n').pop() ?? ''}` };
    }
    const parsed = ArtifactPreviewSchema.safeParse(JSON.parse(stdout));
    if (!parsed.success) return { pyType, error: 'the preview gave an unreadable answer' };
    return parsed.data;
  } finally {
    if (codeDir) await rm(codeDir, { recursive: true, force: true });
  }
}

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), PREVIEW_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      if (stderr.length < 64 * 1024) stderr += s;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
