import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * The pre-receive hook of every project repository (docs/adr/0020). git runs it with the pushed objects still in
 * quarantine; it hands the ref updates and the quarantine's paths to the server through files in a folder of
 * that push (`DEEPFORGE_HOOK_DIR`), waits for the verdict the server writes there, prints its lines (git shows
 * them to the pusher as `remote: …`) and accepts or refuses the push. Files and renames, not pipes: the server
 * never blocks on a reader that may never come. A push not made through the server is refused.
 */
const HOOK = `#!/bin/sh
# DeepForge: pushes are checked by the server (docs/adr/0020).
if [ -z "$DEEPFORGE_HOOK_DIR" ]; then
  echo "push through the DeepForge server (git push <server>/git/<project id>)" >&2
  exit 1
fi
{
  printf '%s\\n' "$GIT_OBJECT_DIRECTORY"
  printf '%s\\n' "$GIT_ALTERNATE_OBJECT_DIRECTORIES"
  cat
} > "$DEEPFORGE_HOOK_DIR/request.tmp" && mv "$DEEPFORGE_HOOK_DIR/request.tmp" "$DEEPFORGE_HOOK_DIR/request"
i=0
while [ ! -f "$DEEPFORGE_HOOK_DIR/verdict" ]; do
  i=$((i + 1))
  if [ "$i" -gt 6000 ]; then echo "the server did not check this push in time" >&2; exit 1; fi
  sleep 0.02
done
status=1
while IFS= read -r line; do
  if [ "$line" = "DEEPFORGE-ACCEPT" ]; then status=0; else printf '%s\\n' "$line" >&2; fi
done < "$DEEPFORGE_HOOK_DIR/verdict"
exit $status
`;

export async function installPushHook(gitDir: string): Promise<void> {
  const hooks = join(gitDir, 'hooks');
  await mkdir(hooks, { recursive: true });
  const path = join(hooks, 'pre-receive');
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === HOOK) return;
  await writeFile(`${path}.tmp`, HOOK);
  await chmod(`${path}.tmp`, 0o755);
  await rename(`${path}.tmp`, path);
}

export interface PushRequest {
  /** Where the pushed objects wait (GIT_OBJECT_DIRECTORY of the hook). */
  objectDir: string;
  /** GIT_ALTERNATE_OBJECT_DIRECTORIES of the hook (the repository's own objects). */
  alternates: string;
  updates: { old: string; new: string; ref: string }[];
}

/** A verdict: accepted, or refused with the lines to show the pusher. */
export type PushVerdict = { accept: true; messages?: string[] } | { accept: false; messages: string[] };

/**
 * One push's exchange with the hook: `env` goes to receive-pack; `serve` answers the hook's request (if it comes)
 * with `check`'s verdict, until `stop` is called when receive-pack has ended.
 */
export class PushExchange {
  readonly dir: string;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(root: string) {
    this.dir = join(root, `push-${randomBytes(8).toString('hex')}`);
  }

  get env(): Record<string, string> {
    return { DEEPFORGE_HOOK_DIR: this.dir };
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Polls for the hook's request, answers it once. */
  serve(check: (request: PushRequest) => Promise<PushVerdict>): Promise<void> {
    return new Promise((resolve) => {
      const poll = async (): Promise<void> => {
        if (this.stopped) return resolve();
        const text = await readFile(join(this.dir, 'request'), 'utf8').catch(() => undefined);
        if (text === undefined) {
          this.timer = setTimeout(() => void poll(), 20);
          return;
        }
        const [objectDir = '', alternates = '', ...lines] = text.split('\n');
        const updates = lines
          .filter((l) => l.trim() !== '')
          .map((l) => {
            const [o, n, ref] = l.split(' ');
            return { old: o!, new: n!, ref: ref! };
          });
        let verdict: PushVerdict;
        try {
          verdict = await check({ objectDir, alternates, updates });
        } catch (err) {
          verdict = {
            accept: false,
            messages: [`the server could not check this push: ${(err as Error).message}`],
          };
        }
        const body = [...(verdict.messages ?? []), ...(verdict.accept ? ['DEEPFORGE-ACCEPT'] : [])].join(
          '\n',
        );
        await writeFile(join(this.dir, 'verdict.tmp'), body + '\n');
        await rename(join(this.dir, 'verdict.tmp'), join(this.dir, 'verdict'));
        resolve();
      };
      void poll();
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await rm(this.dir, { recursive: true, force: true });
  }
}
