import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GitError, runGit } from './git.process.js';

/** The branch every project history lives on. */
export const HISTORY_BRANCH = 'refs/heads/main';
const ZERO_ID = '0'.repeat(40);
const COMMIT_ID = /^[0-9a-f]{40}$/;

export type VersionKind = 'checkpoint' | 'named' | 'restore' | 'push' | 'fork' | 'import' | 'created';
const KINDS: ReadonlySet<string> = new Set<VersionKind>([
  'checkpoint',
  'named',
  'restore',
  'push',
  'fork',
  'import',
  'created',
]);

export interface VersionAuthor {
  id?: string;
  name: string;
}

export type FileChange = 'added' | 'modified' | 'deleted' | 'renamed';
export interface VersionFile {
  path: string;
  change: FileChange;
  from?: string;
}

export interface Version {
  id: string;
  parentIds: string[];
  kind: VersionKind;
  message: string;
  author: VersionAuthor;
  /** ISO 8601 UTC. */
  time: string;
  files: VersionFile[];
}

export interface VersionQuery {
  limit: number;
  /** The id of the first version of the page (the `next` of the page before). */
  cursor?: string;
  /** Searched in the message and the author's name, ignoring case. */
  q?: string;
  /** Only versions that changed this file. */
  path?: string;
}

export interface NewVersion {
  kind: VersionKind;
  message: string;
  author: VersionAuthor;
  /** ms since the epoch; now by default. */
  time?: number;
  /** Commit even when the tree is the one of the last version (a named version labels a state). */
  allowEmpty?: boolean;
  /** Other trailers to record (`DeepForge-Forked-From`). */
  trailers?: Record<string, string>;
}

/** The project's files: paths of the project folder → content. */
export type VersionFiles = ReadonlyMap<string, string | Uint8Array>;

export class HistoryError extends Error {
  override readonly name = 'HistoryError';
  constructor(
    message: string,
    /** `unknown-version`: no such version; `bad-cursor`; `conflict`: the branch moved under a write. */
    readonly code: 'unknown-version' | 'bad-cursor' | 'conflict' | 'no-history',
  ) {
    super(message);
  }
}

/** Git's id of a blob: SHA-1 of `blob <size>\0<bytes>`. */
export function blobId(data: Uint8Array): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function bytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/** Text fit for a commit message line: no control characters (they would break the log's field separators). */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
}

function oneLine(text: string): string {
  return clean(text).replace(/\s+/g, ' ').trim();
}

const LOG_FORMAT =
  '%x1e%H%x1f%P%x1f%an%x1f%aI%x1f%s%x1f%(trailers:key=DeepForge-Kind,valueonly,separator=)%x1f' +
  '%(trailers:key=DeepForge-Author-Id,valueonly,separator=)%x1f';

function parseChanges(tokens: string[]): VersionFile[] {
  const files: VersionFile[] = [];
  for (let i = 0; i < tokens.length;) {
    const status = tokens[i++]!;
    if (status === '') continue;
    const letter = status[0];
    if (letter === 'R' || letter === 'C') {
      const from = tokens[i++]!;
      const path = tokens[i++]!;
      files.push(letter === 'R' ? { path, change: 'renamed', from } : { path, change: 'added' });
    } else {
      const path = tokens[i++]!;
      const change: FileChange = letter === 'A' ? 'added' : letter === 'D' ? 'deleted' : 'modified';
      files.push({ path, change });
    }
  }
  return files;
}

/** Parses `git log -z --name-status --format=LOG_FORMAT`. */
function parseLog(out: string): Version[] {
  const versions: Version[] = [];
  for (const record of out.split('\x1e')) {
    if (record === '') continue;
    const fields = record.split('\x1f');
    const [id, parents, author, time, subject, kind, authorId] = fields;
    const rest = fields
      .slice(7)
      .join('\x1f')
      .replace(/^\0?\n?/, '');
    versions.push({
      id: id!,
      parentIds: parents ? parents.split(' ') : [],
      // A commit without the trailer was not written by DeepForge: it came with a push.
      kind: KINDS.has(kind!.trim()) ? (kind!.trim() as VersionKind) : 'push',
      message: subject!,
      author: { ...(authorId!.trim() ? { id: authorId!.trim() } : {}), name: author! },
      time: new Date(time!).toISOString(),
      files: parseChanges(rest.split('\0')),
    });
  }
  return versions;
}

/**
 * One project's history: a bare git repository of its project folder (docs/adr/0020), one commit per version on
 * `main`. Every git command runs in a child process. Writes to one repository run one after another, and the
 * branch moves by compare-and-swap (`update-ref <new> <old>`), so a version is either wholly there or not at all.
 */
export class ProjectHistory {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly gitDir: string) {}

  private git(args: readonly string[], options?: Parameters<typeof runGit>[2]): ReturnType<typeof runGit> {
    return runGit(this.gitDir, args, options);
  }

  /** Runs writes one after another. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Creates the bare repository (nothing when it exists). */
  async init(): Promise<void> {
    await mkdir(this.gitDir, { recursive: true });
    await this.git(['init', '--quiet', '--bare', '--initial-branch=main']);
    // Pushes are checked by the server before they land; these keep what git accepts strict.
    await this.git(['config', 'receive.denyNonFastForwards', 'true']);
    await this.git(['config', 'receive.denyDeletes', 'true']);
    await this.git(['config', 'http.receivepack', 'true']);
    await this.git(['config', 'core.logAllRefUpdates', 'false']);
  }

  async remove(): Promise<void> {
    await rm(this.gitDir, { recursive: true, force: true });
  }

  /** The newest version's id, or undefined before the first. */
  async head(): Promise<string | undefined> {
    const { stdout, code } = await this.git(['rev-parse', '--verify', '-q', `${HISTORY_BRANCH}^{commit}`], {
      okCodes: [1, 128],
    });
    return code === 0 ? stdout.toString().trim() : undefined;
  }

  /** Whether `id` is a version of this history (a commit in the repository). */
  async resolve(id: string): Promise<string> {
    if (!COMMIT_ID.test(id))
      throw new HistoryError(`"${id.slice(0, 100)}" is not a version id (40 hex digits)`, 'unknown-version');
    const { code } = await this.git(['cat-file', '-e', `${id}^{commit}`], { okCodes: [1, 128] });
    if (code !== 0)
      throw new HistoryError(`there is no version ${id} in this project's history`, 'unknown-version');
    return id;
  }

  /**
   * Writes the files as a tree (blobs git lacks first) and answers its id. Blob ids are computed here, so only
   * new content is handed to git; the tree is built in a throwaway index.
   */
  async writeTree(files: VersionFiles): Promise<string> {
    const entries = [...files].map(([path, v]) => {
      const data = bytes(v);
      return { path, data, id: blobId(data) };
    });
    if (entries.length === 0) {
      return (await this.git(['mktree'], { input: '' })).stdout.toString().trim();
    }
    const unique = [...new Map(entries.map((e) => [e.id, e])).values()];
    const check = await this.git(['cat-file', '--batch-check=%(objectname)'], {
      input: unique.map((e) => `${e.id}\n`).join(''),
    });
    const missing = new Set(
      check.stdout
        .toString()
        .split('\n')
        .filter((l) => l.endsWith(' missing'))
        .map((l) => l.split(' ')[0]!),
    );
    const tmp = join(this.gitDir, `tmp-${randomBytes(8).toString('hex')}`);
    await mkdir(tmp, { recursive: true });
    try {
      const toWrite = unique.filter((e) => missing.has(e.id));
      if (toWrite.length > 0) {
        const paths: string[] = [];
        for (const [i, e] of toWrite.entries()) {
          const p = join(tmp, `b${i}`);
          await writeFile(p, e.data);
          paths.push(p);
        }
        const written = await this.git(['hash-object', '-w', '--no-filters', '--stdin-paths'], {
          input: paths.join('\n') + '\n',
        });
        const ids = written.stdout.toString().trim().split('\n');
        toWrite.forEach((e, i) => {
          if (ids[i] !== e.id) throw new Error(`git stored ${e.path} as ${ids[i]}, expected ${e.id}`);
        });
      }
      const env = { GIT_INDEX_FILE: join(tmp, 'index') };
      await this.git(['update-index', '--add', '-z', '--index-info'], {
        env,
        input: entries.map((e) => `100644 ${e.id}\t${e.path}\0`).join(''),
      });
      return (await this.git(['write-tree'], { env })).stdout.toString().trim();
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * Records the files as a new version on top of the newest, or on `parent` (which must still be the newest:
   * the branch moves by compare-and-swap). A checkpoint of the same tree as the newest version is no version:
   * answers undefined.
   */
  commit(files: VersionFiles, version: NewVersion, parent?: string): Promise<string | undefined> {
    return this.serial(async () => {
      const tree = await this.writeTree(files);
      return this.commitTree(tree, version, parent);
    });
  }

  /** A version of a tree already written (a fork's, a push's). */
  private async commitTree(tree: string, version: NewVersion, parent?: string): Promise<string | undefined> {
    const head = parent ?? (await this.head());
    if (head !== undefined && !version.allowEmpty) {
      const headTree = (await this.git(['rev-parse', `${head}^{tree}`])).stdout.toString().trim();
      if (headTree === tree) return undefined;
    }
    const when = Math.floor((version.time ?? Date.now()) / 1000);
    const name = oneLine(version.author.name) || 'DeepForge';
    const email = `${(version.author.id ?? name).replace(/[^A-Za-z0-9._-]+/g, '-') || 'user'}@deepforge`;
    const env = {
      GIT_AUTHOR_NAME: name,
      GIT_AUTHOR_EMAIL: email,
      GIT_AUTHOR_DATE: `${when} +0000`,
      GIT_COMMITTER_NAME: name,
      GIT_COMMITTER_EMAIL: email,
      GIT_COMMITTER_DATE: `${when} +0000`,
    };
    const trailers: Record<string, string> = { 'DeepForge-Kind': version.kind };
    if (version.author.id !== undefined) trailers['DeepForge-Author-Id'] = oneLine(version.author.id);
    for (const [k, v] of Object.entries(version.trailers ?? {})) trailers[k] = oneLine(v);
    const subject = oneLine(version.message.split('\n')[0] ?? '') || version.kind;
    const body = clean(version.message.split('\n').slice(1).join('\n')).trim();
    const message = [
      subject,
      ...(body ? ['', body] : []),
      '',
      ...Object.entries(trailers).map(([k, v]) => `${k}: ${v}`),
    ].join('\n');
    const commit = (
      await this.git(['commit-tree', tree, ...(head ? ['-p', head] : []), '-F', '-'], {
        env,
        input: message + '\n',
      })
    ).stdout
      .toString()
      .trim();
    const moved = await this.git(['update-ref', HISTORY_BRANCH, commit, head ?? ZERO_ID], {
      okCodes: [1, 128],
    });
    if (moved.code !== 0) {
      throw new HistoryError('the history moved while this version was written; try again', 'conflict');
    }
    return commit;
  }

  /** A new version whose tree is `tree` (already in this repository). */
  commitTreeOnTop(tree: string, version: NewVersion): Promise<string | undefined> {
    return this.serial(() => this.commitTree(tree, version));
  }

  /** Versions, newest first: a page of `limit`, and the cursor of the next one. */
  async list(query: VersionQuery): Promise<{ versions: Version[]; next?: string }> {
    const head = await this.head();
    if (head === undefined) return { versions: [] };
    let start = head;
    if (query.cursor !== undefined) {
      if (!COMMIT_ID.test(query.cursor)) {
        throw new HistoryError(
          `cursor "${query.cursor.slice(0, 100)}" is not one a page answered`,
          'bad-cursor',
        );
      }
      const { code } = await this.git(['merge-base', '--is-ancestor', query.cursor, head], {
        okCodes: [1, 128],
      });
      if (code !== 0) {
        throw new HistoryError(
          `cursor "${query.cursor}" is not a version of this project's history`,
          'bad-cursor',
        );
      }
      start = query.cursor;
    }
    const pathArgs = query.path !== undefined ? ['--', query.path] : [];
    let ids: string[];
    if (query.q !== undefined && query.q.trim() !== '') {
      const needle = query.q.trim().toLowerCase();
      const all = await this.git(['log', '-z', '--format=%H%x1f%an%x1f%B', start, ...pathArgs]);
      ids = [];
      for (const rec of all.stdout.toString('utf8').split('\0')) {
        if (rec === '') continue;
        const [id, author, body] = rec.split('\x1f');
        const message = (body ?? '').replace(/\n(DeepForge-[A-Za-z-]+: .*\n?)+$/, '');
        if (author!.toLowerCase().includes(needle) || message.toLowerCase().includes(needle)) ids.push(id!);
        if (ids.length > query.limit) break;
      }
    } else {
      const out = await this.git(['rev-list', `--max-count=${query.limit + 1}`, start, ...pathArgs]);
      ids = out.stdout.toString().split('\n').filter(Boolean);
    }
    const page = ids.slice(0, query.limit);
    const versions = await this.describe(page);
    return { versions, ...(ids.length > query.limit ? { next: ids[query.limit]! } : {}) };
  }

  /** The versions with these ids, in this order, with the files each changed. */
  async describe(ids: readonly string[]): Promise<Version[]> {
    if (ids.length === 0) return [];
    const out = await this.git([
      'log',
      '--no-walk=unsorted',
      '-z',
      '--name-status',
      '-M',
      '--root',
      `--format=${LOG_FORMAT}`,
      ...ids,
    ]);
    return parseLog(out.stdout.toString('utf8'));
  }

  async get(id: string): Promise<Version> {
    await this.resolve(id);
    return (await this.describe([id]))[0]!;
  }

  /** The files of a version: path → size. */
  async tree(id: string): Promise<{ path: string; size: number; blob: string }[]> {
    await this.resolve(id);
    return this.treeOf(id);
  }

  private async treeOf(
    treeish: string,
    env?: Record<string, string>,
  ): Promise<{ path: string; size: number; blob: string }[]> {
    const out = await this.git(['ls-tree', '-r', '-l', '-z', treeish], env ? { env } : {});
    const files: { path: string; size: number; blob: string }[] = [];
    for (const line of out.stdout.toString('utf8').split('\0')) {
      if (line === '') continue;
      const tab = line.indexOf('\t');
      const [, type, blob, size] = line.slice(0, tab).split(/\s+/);
      if (type !== 'blob') continue;
      files.push({ path: line.slice(tab + 1), size: Number(size), blob: blob! });
    }
    return files;
  }

  /** The content of blobs, by id (one `cat-file --batch` process). */
  async blobs(ids: readonly string[], env?: Record<string, string>): Promise<Map<string, Buffer>> {
    const unique = [...new Set(ids)];
    const result = new Map<string, Buffer>();
    if (unique.length === 0) return result;
    const out = (
      await this.git(['cat-file', '--batch'], { input: unique.join('\n') + '\n', ...(env ? { env } : {}) })
    ).stdout;
    let at = 0;
    while (at < out.length) {
      const nl = out.indexOf(10, at);
      const [id, type, size] = out.subarray(at, nl).toString().split(' ');
      if (type === 'missing' || size === undefined) {
        at = nl + 1;
        continue;
      }
      const n = Number(size);
      result.set(id!, out.subarray(nl + 1, nl + 1 + n));
      at = nl + 1 + n + 1;
    }
    return result;
  }

  /** Every file of a version with its content. */
  async files(id: string): Promise<Map<string, Buffer>> {
    const tree = await this.tree(id);
    const blobs = await this.blobs(tree.map((f) => f.blob));
    return new Map(tree.map((f) => [f.path, blobs.get(f.blob)!]));
  }

  /**
   * Every file of a commit that may still be in quarantine (a push being checked): `env` names its object
   * directories.
   */
  async filesAt(id: string, env: Record<string, string>): Promise<Map<string, Buffer>> {
    const tree = await this.treeOf(id, env);
    const blobs = await this.blobs(
      tree.map((f) => f.blob),
      env,
    );
    return new Map(tree.map((f) => [f.path, blobs.get(f.blob)!]));
  }

  /** One file of a version, or undefined when the version has no such file. */
  async file(id: string, path: string): Promise<Buffer | undefined> {
    await this.resolve(id);
    const entry = (await this.treeOf(id)).find((f) => f.path === path);
    if (!entry) return undefined;
    return (await this.blobs([entry.blob])).get(entry.blob);
  }

  /** What changed from one tree-ish to another, with renames detected. */
  async changes(
    from: string | undefined,
    to: string,
  ): Promise<(VersionFile & { before?: string; after?: string })[]> {
    const base = from ?? (await this.git(['mktree'], { input: '' })).stdout.toString().trim();
    const out = await this.git(['diff-tree', '-r', '-M', '-z', '--raw', base, to]);
    const tokens = out.stdout.toString('utf8').split('\0');
    const files: (VersionFile & { before?: string; after?: string })[] = [];
    for (let i = 0; i < tokens.length;) {
      const meta = tokens[i++]!;
      if (!meta.startsWith(':')) continue;
      const [, , beforeBlob, afterBlob, status] = meta.slice(1).split(' ');
      const letter = status![0];
      const zero = (b: string | undefined): string | undefined =>
        b === undefined || /^0+$/.test(b) ? undefined : b;
      if (letter === 'R' || letter === 'C') {
        const fromPath = tokens[i++]!;
        const path = tokens[i++]!;
        files.push({
          path,
          change: letter === 'R' ? 'renamed' : 'added',
          ...(letter === 'R' ? { from: fromPath } : {}),
          ...(zero(beforeBlob) && letter === 'R' ? { before: beforeBlob } : {}),
          ...(zero(afterBlob) ? { after: afterBlob } : {}),
        });
      } else {
        const path = tokens[i++]!;
        const change: FileChange = letter === 'A' ? 'added' : letter === 'D' ? 'deleted' : 'modified';
        const b = zero(beforeBlob);
        const a = zero(afterBlob);
        files.push({ path, change, ...(b ? { before: b } : {}), ...(a ? { after: a } : {}) });
      }
    }
    return files;
  }

  /** The first parent of a version, or undefined for the first version. */
  async parentOf(id: string): Promise<string | undefined> {
    const v = await this.get(id);
    return v.parentIds[0];
  }

  /** Files some version deleted (renames are no deletions), the newest deletion of each path first. */
  async deletions(): Promise<{ path: string; deletedIn: string; lastVersion: string }[]> {
    const head = await this.head();
    if (head === undefined) return [];
    const out = await this.git([
      'log',
      '-z',
      '-M',
      '--diff-filter=D',
      '--name-only',
      '--format=%x1e%H%x1f%P%x1f',
      head,
    ]);
    const seen = new Set<string>();
    const items: { path: string; deletedIn: string; lastVersion: string }[] = [];
    for (const rec of out.stdout.toString('utf8').split('\x1e')) {
      if (rec === '') continue;
      const [id, parents, rest] = rec.split('\x1f');
      const parent = parents!.split(' ')[0];
      if (!parent) continue;
      for (const path of (rest ?? '').replace(/^\0?\n?/, '').split('\0')) {
        if (path === '' || seen.has(path)) continue;
        seen.add(path);
        items.push({ path, deletedIn: id!, lastVersion: parent });
      }
    }
    return items;
  }

  /**
   * A new repository holding this history up to `version` (its `main`), for a fork: git copies the objects it
   * needs (hard links where it can).
   */
  async copyTo(target: ProjectHistory, version: string): Promise<void> {
    await this.resolve(version);
    await target.init();
    await runGit(target.gitDir, [
      'fetch',
      '--quiet',
      '--no-tags',
      this.gitDir,
      `${version}:${HISTORY_BRANCH}`,
    ]);
  }

  /** Runs a git command on this repository (the smart HTTP transport, imports). */
  run(args: readonly string[], options?: Parameters<typeof runGit>[2]): ReturnType<typeof runGit> {
    return this.git(args, options);
  }
}

export { GitError };
