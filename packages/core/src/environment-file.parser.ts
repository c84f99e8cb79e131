import { utf8Length } from './python-source.limits.js';

/**
 * An operation's environment file (`operations/<Name>.environment.yml`): a conda environment file, as the
 * DeepForge docs describe it, read into the pip requirements DeepForge installs into a venv on top of the
 * machine's Python (docs/adr/0017).
 *
 *   name: train                  # ignored: environments are named by their content
 *   channels: [conda-forge]      # ignored: packages come from pip's index
 *   dependencies:
 *     - python=3.11              # checked against the interpreter that runs the job
 *     - pip                      # nothing to do: every environment has pip
 *     - numpy=1.24               # conda's `=1.24` means 1.24.*: pip `numpy==1.24.*`
 *     - pip:
 *       - tqdm>=4
 *
 * Only this subset of YAML is read (block lists and `key: value`, comments, quoted scalars, one-line `[a, b]`
 * lists), within fixed bounds, so any input is read in time linear in its size; anything else is refused with
 * the line it is on. Requirements must be names with extras, version specifiers and markers: options (`-r`,
 * `--index-url`), paths and URLs are refused, since the file is project content anyone with edit rights writes,
 * while where packages come from is the machine's business (`environments.pipArgs`).
 */

export const ENVIRONMENT_FILE_MAX_BYTES = 64 * 1024;
export const ENVIRONMENT_FILE_MAX_LINES = 2000;
export const ENVIRONMENT_LINE_MAX_CHARS = 1000;
export const ENVIRONMENT_MAX_PACKAGES = 500;

/** Where a problem is: 1-based line and column. */
export interface EnvironmentFileProblem {
  line: number;
  column: number;
  message: string;
}

export interface EnvironmentRequirement {
  /** As pip reads it, e.g. `numpy==1.24.*`. */
  pip: string;
  /** As written in the file, e.g. `numpy=1.24`. */
  written: string;
  /** Which list it came from. */
  from: 'conda' | 'pip';
  line: number;
}

export interface EnvironmentPlan {
  /** The file's `name`, when it has one (shown only). */
  name: string | null;
  channels: string[];
  /** The `python` dependency's version constraint in pip's form (`==3.11.*`), or null when none. */
  python: { constraint: string; written: string; line: number } | null;
  requirements: EnvironmentRequirement[];
  /** What the file says that has no effect here, each with its line (shown with the build's log). */
  notes: { line: number; message: string }[];
}

export type EnvironmentFileResult =
  { ok: true; plan: EnvironmentPlan } | { ok: false; problems: EnvironmentFileProblem[] };

/** Whether the plan needs an environment of its own (a venv); a python constraint alone needs none. */
export function needsEnvironment(plan: EnvironmentPlan): boolean {
  return plan.requirements.length > 0;
}

/**
 * The text an environment's identity is computed from (with the interpreter's): only what changes what gets
 * installed, so editing a comment or the name does not build it again.
 */
export function environmentMaterial(plan: EnvironmentPlan): string {
  return JSON.stringify({ v: 1, requirements: plan.requirements.map((r) => r.pip) });
}

const TOP_KEYS = ['name', 'channels', 'dependencies', 'prefix'] as const;
type TopKey = (typeof TOP_KEYS)[number];

interface Line {
  n: number;
  indent: number;
  text: string;
}

class Problem extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

/** Reads an environment file; every problem names its line. An empty file (or one of comments) plans nothing. */
export function parseEnvironmentFile(source: string): EnvironmentFileResult {
  try {
    return readPlan(source);
  } catch (err) {
    if (err instanceof Problem) {
      return { ok: false, problems: [{ line: err.line, column: err.column, message: err.message }] };
    }
    throw err;
  }
}

function readPlan(source: string): EnvironmentFileResult {
  const bytes = utf8Length(source);
  if (bytes > ENVIRONMENT_FILE_MAX_BYTES) {
    throw new Problem(
      1,
      1,
      `the environment file is ${Math.ceil(bytes / 1024)} KiB; at most ${ENVIRONMENT_FILE_MAX_BYTES / 1024} KiB is read`,
    );
  }
  const lines = significantLines(source);
  const plan: EnvironmentPlan = { name: null, channels: [], python: null, requirements: [], notes: [] };
  const problems: EnvironmentFileProblem[] = [];
  const seen = new Set<TopKey>();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.indent > 0) {
      throw new Problem(line.n, line.indent + 1, 'this line is indented, but no key above it holds a list');
    }
    const kv = keyValue(line);
    if (!kv) {
      throw new Problem(
        line.n,
        1,
        line.text.startsWith('-')
          ? 'a list item needs a key above it (dependencies:)'
          : `expected \`key: value\` (one of ${TOP_KEYS.join(', ')})`,
      );
    }
    const key = kv.key as TopKey;
    if (!(TOP_KEYS as readonly string[]).includes(kv.key)) {
      throw new Problem(
        line.n,
        1,
        `unknown key \`${kv.key}\`: an environment file has ${TOP_KEYS.join(', ')}` +
          (kv.key === 'variables' ? ' (set variables as project secrets)' : ''),
      );
    }
    if (seen.has(key)) throw new Problem(line.n, 1, `\`${kv.key}\` is given twice`);
    seen.add(key);
    i++;
    if (key === 'name' || key === 'prefix') {
      const value = scalar(kv.value, line.n, kv.valueColumn);
      if (key === 'name') plan.name = value;
      else
        plan.notes.push({
          line: line.n,
          message: 'prefix: ignored; DeepForge chooses where environments go',
        });
      continue;
    }
    let items: Item[];
    if (kv.value !== '') items = flowList(kv.value, line.n, kv.valueColumn);
    else {
      const block = blockList(lines, i, 0);
      items = block.items;
      i = block.next;
    }
    if (key === 'channels') {
      for (const item of items) {
        if (item.nested) throw new Problem(item.line, item.column, 'a channel is a name, not a list');
        plan.channels.push(item.value);
      }
      if (plan.channels.length > 0) {
        plan.notes.push({
          line: line.n,
          message: `channels: ignored; packages come from pip's package index (environments.pipArgs)`,
        });
      }
      continue;
    }
    for (const item of items) {
      if (item.nested) {
        if (item.key !== 'pip') {
          throw new Problem(
            item.line,
            item.column,
            `\`${item.key}:\` cannot hold a list here: only \`pip:\` can, in dependencies`,
          );
        }
        for (const sub of item.nested) {
          if (sub.nested)
            throw new Problem(sub.line, sub.column, 'a pip requirement is one line, not a list');
          const problem = pipRequirementProblem(sub.value);
          if (problem) problems.push({ line: sub.line, column: sub.column, message: problem });
          else
            plan.requirements.push({
              pip: sub.value.trim(),
              written: sub.value,
              from: 'pip',
              line: sub.line,
            });
        }
      } else {
        const dep = condaDependency(item.value);
        if ('problem' in dep) {
          problems.push({ line: item.line, column: item.column, message: dep.problem });
        } else if (dep.kind === 'python') {
          if (plan.python)
            problems.push({ line: item.line, column: item.column, message: 'python is given twice' });
          plan.python = { constraint: dep.constraint, written: item.value, line: item.line };
        } else if (dep.kind === 'pip') {
          // pip itself: every environment has it.
        } else {
          plan.requirements.push({
            pip: dep.requirement,
            written: item.value,
            from: 'conda',
            line: item.line,
          });
        }
      }
      if (plan.requirements.length > ENVIRONMENT_MAX_PACKAGES) {
        throw new Problem(item.line, 1, `more than ${ENVIRONMENT_MAX_PACKAGES} packages`);
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, plan };
}

/** The lines that say something (no blank or comment-only lines), comments cut, each with its indent. */
function significantLines(source: string): Line[] {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  const raw = text.split('\n');
  if (raw.length > ENVIRONMENT_FILE_MAX_LINES) {
    throw new Problem(
      ENVIRONMENT_FILE_MAX_LINES + 1,
      1,
      `the environment file has ${raw.length} lines; at most ${ENVIRONMENT_FILE_MAX_LINES} are read`,
    );
  }
  const out: Line[] = [];
  raw.forEach((r, idx) => {
    const n = idx + 1;
    const l = r.endsWith('\r') ? r.slice(0, -1) : r;
    if (l.length > ENVIRONMENT_LINE_MAX_CHARS) {
      throw new Problem(
        n,
        ENVIRONMENT_LINE_MAX_CHARS + 1,
        `line longer than ${ENVIRONMENT_LINE_MAX_CHARS} characters`,
      );
    }
    let indent = 0;
    while (indent < l.length && l[indent] === ' ') indent++;
    if (l[indent] === '\t') throw new Problem(n, indent + 1, 'a tab: YAML indents with spaces only');
    const body = stripComment(l.slice(indent), n, indent).trimEnd();
    if (body === '') return;
    if (indent === 0 && (body === '---' || body === '...')) return;
    if (body.startsWith('%') || body.startsWith('&') || body.startsWith('*') || body.startsWith('!')) {
      throw new Problem(n, indent + 1, 'YAML directives, anchors, aliases and tags are not read here');
    }
    out.push({ n, indent, text: body });
  });
  return out;
}

/** Cuts a `#` comment (at the start, or after a space, outside quotes). */
function stripComment(text: string, n: number, indent: number): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") {
      // A quote starts a quoted scalar only at the start of a value.
      const before = text.slice(0, i).trimEnd();
      if (
        before === '' ||
        before.endsWith(':') ||
        before.endsWith('-') ||
        before.endsWith('[') ||
        before.endsWith(',')
      ) {
        quote = c;
      }
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ')) {
      return text.slice(0, i);
    }
  }
  if (quote) throw new Problem(n, indent + 1, `a ${quote === '"' ? 'double' : 'single'} quote is not closed`);
  return text;
}

/** `key: value` or `key:`; null when the text is not a mapping entry. */
function keyValue(line: Line): { key: string; value: string; valueColumn: number } | null {
  const m = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*:(?:\s+(.*))?$/.exec(line.text);
  if (!m) return null;
  const value = (m[2] ?? '').trim();
  return { key: m[1]!, value, valueColumn: line.indent + line.text.length - value.length + 1 };
}

interface Item {
  line: number;
  column: number;
  value: string;
  /** For `- key:` items with a list under them. */
  key?: string;
  nested?: Item[];
}

/** A scalar value: plain, 'single' or "double" quoted. */
function scalar(text: string, n: number, column: number): string {
  if (text === '') return '';
  const q = text[0];
  if (q === "'" || q === '"') {
    if (text.length < 2 || text[text.length - 1] !== q) {
      throw new Problem(n, column, 'text after a quoted value');
    }
    const inner = text.slice(1, -1);
    return q === "'" ? inner.replace(/''/g, "'") : inner.replace(/\\(["\\])/g, '$1');
  }
  if (text.startsWith('{') || text.startsWith('|') || text.startsWith('>')) {
    throw new Problem(
      n,
      column,
      'block scalars and `{…}` mappings are not read here: write one value a line',
    );
  }
  return text;
}

/** `[a, b, 'c']` on one line. */
function flowList(text: string, n: number, column: number): Item[] {
  if (text === '[]') return [];
  if (!text.startsWith('[') || !text.endsWith(']')) {
    throw new Problem(n, column, 'expected a list: `[a, b]` on this line, or `- item` lines below it');
  }
  const inner = text.slice(1, -1);
  if (inner.includes('[') || inner.includes('{'))
    throw new Problem(n, column, 'a list inside `[…]` is not read here');
  const items: Item[] = [];
  let offset = column + 1;
  for (const part of inner.split(',')) {
    const v = part.trim();
    if (v !== '') {
      const lead = part.length - part.trimStart().length;
      items.push({ line: n, column: offset + lead, value: scalar(v, n, offset + lead) });
    }
    offset += part.length + 1;
  }
  return items;
}

/**
 * The `- item` lines from `start` that belong to a key at `parentIndent` (YAML lets them sit at the key's own
 * indent); `- pip:` items take the deeper lines below them.
 */
function blockList(lines: Line[], start: number, parentIndent: number): { items: Item[]; next: number } {
  const items: Item[] = [];
  let i = start;
  let itemIndent: number | null = null;
  while (i < lines.length) {
    const line = lines[i]!;
    const isItem = line.text === '-' || line.text.startsWith('- ');
    if (itemIndent === null) {
      if (!isItem || line.indent < parentIndent) break;
      itemIndent = line.indent;
    }
    if (line.indent < itemIndent) break;
    if (line.indent > itemIndent) {
      throw new Problem(line.n, line.indent + 1, 'unexpected indent: a list item starts with `- `');
    }
    if (!isItem) {
      if (line.indent === parentIndent) break;
      throw new Problem(line.n, line.indent + 1, 'expected a list item (`- …`)');
    }
    const content = line.text.slice(1).trimStart();
    const column = line.indent + line.text.length - content.length + 1;
    if (content === '') throw new Problem(line.n, line.indent + 1, 'an empty list item');
    if (content.startsWith('- '))
      throw new Problem(line.n, column, 'a list inside a list item is not read here');
    const kv = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*:(?:\s+(.*))?$/.exec(content);
    i++;
    if (kv) {
      const value = (kv[2] ?? '').trim();
      let nested: Item[];
      if (value !== '') nested = flowList(value, line.n, column + content.length - value.length);
      else {
        const deeper = lines[i];
        if (!deeper || deeper.indent <= itemIndent) nested = [];
        else {
          const block = blockList(lines, i, itemIndent + 1);
          nested = block.items;
          i = block.next;
        }
      }
      items.push({ line: line.n, column, value: content, key: kv[1]!, nested });
    } else {
      items.push({ line: line.n, column, value: scalar(content, line.n, column) });
    }
  }
  if (items.length === 0 && i < lines.length && lines[i]!.indent > parentIndent) {
    throw new Problem(lines[i]!.n, lines[i]!.indent + 1, 'expected a list item (`- …`)');
  }
  return { items, next: i };
}

const NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const VERSION = '[A-Za-z0-9.*+!_-]+';
const OP = '(?:===|==|!=|~=|<=|>=|<|>)';
const SPECIFIERS = `${OP}\\s*${VERSION}(?:\\s*,\\s*${OP}\\s*${VERSION})*`;
const PIP_REQUIREMENT = new RegExp(
  `^${NAME}\\s*(?:\\[\\s*${NAME}(?:\\s*,\\s*${NAME})*\\s*\\])?\\s*(?:${SPECIFIERS}|\\(\\s*${SPECIFIERS}\\s*\\))?\\s*(?:;\\s*[A-Za-z0-9_.'" <>=!~(),-]+)?$`,
);

/** Why a pip requirement is refused, or null when it is one DeepForge installs. */
export function pipRequirementProblem(text: string): string | null {
  const t = text.trim();
  if (t === '') return 'an empty requirement';
  // Not only at the start: pip reads options after a requirement too (`x; … --global-option=…`).
  if (/(^|\s)-/.test(t)) {
    return `\`${t}\`: pip options are not accepted in an environment file; the package index is set on the machine (environments.pipArgs)`;
  }
  if (/:\/\/|^[./~]|^[A-Za-z]:\\|\s@\s|^[^\s;]*\//.test(t)) {
    return `\`${t}\`: paths and URLs are not accepted; name a package from the package index`;
  }
  if (!PIP_REQUIREMENT.test(t)) {
    return `\`${t}\` is not a requirement: write a package name, optionally [extras], version specifiers (==1.0, >=2,<3) and a \`; marker\``;
  }
  return null;
}

/** conda names whose pip package is called otherwise. */
const PIP_NAMES: Readonly<Record<string, string>> = { pytorch: 'torch' };

type CondaDependency =
  | { kind: 'python'; constraint: string }
  | { kind: 'pip' }
  | { kind: 'package'; requirement: string }
  | { problem: string };

/**
 * A conda match spec as pip reads it: `numpy` → `numpy`, `numpy=1.24` → `numpy==1.24.*` (conda's single `=` is a
 * prefix match), `numpy 1.24.*` → `numpy==1.24.*`, `numpy>=1.2,<2` as it is, `conda-forge::numpy` → `numpy`.
 * Build strings (`numpy=1.24=py311_0`) need conda itself, and are refused.
 */
function condaDependency(text: string): CondaDependency {
  const t = text.trim();
  const m = /^(?:([A-Za-z0-9_.-]+)::)?([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(.*)$/.exec(t);
  if (!m)
    return {
      problem: `\`${t}\` is not a conda package spec (name, then a version: numpy=1.24 or numpy>=1.2)`,
    };
  const name = m[2]!.toLowerCase();
  const rest = m[3]!.trim();
  if (rest.startsWith('['))
    return { problem: `\`${t}\`: conda's bracket syntax needs conda; write name=version` };
  let constraint: string;
  if (rest === '') constraint = '';
  else {
    let build: string | undefined;
    if (/^=[^=]/.test(rest)) {
      const parts = rest.slice(1).split('=');
      build = parts[1];
      const v = parts[0]!.trim();
      constraint = `==${v.endsWith('*') ? v.replace(/\.?\*$/, '.*') : `${v}.*`}`;
      if (parts.length > 2) build = parts.slice(1).join('=');
    } else if (/^(===|==|!=|~=|<=|>=|<|>)/.test(rest)) {
      constraint = rest.replace(/\s+/g, '');
    } else {
      const parts = rest.split(/\s+/);
      const v = parts[0]!;
      build = parts[1];
      if (parts.length > 2) build = parts.slice(1).join(' ');
      constraint = /^(===|==|!=|~=|<=|>=|<|>)/.test(v) ? v : `==${v}`;
    }
    if (build !== undefined) {
      return {
        problem: `\`${t}\`: a build string (${build}) needs conda; DeepForge installs with pip, write ${name}=${constraint.replace(/^==/, '').replace(/\.\*$/, '')}`,
      };
    }
    if (constraint.includes('|'))
      return { problem: `\`${t}\`: \`|\` (either version) needs conda; pick one range` };
    if (!new RegExp(`^${SPECIFIERS}$`).test(constraint)) {
      return { problem: `\`${t}\`: cannot read the version \`${rest}\` (write numpy=1.24, numpy>=1.2,<2)` };
    }
  }
  if (name === 'python') return { kind: 'python', constraint };
  if (name === 'pip') return { kind: 'pip' };
  return { kind: 'package', requirement: `${PIP_NAMES[name] ?? name}${constraint}` };
}

/**
 * Why an interpreter of `version` (e.g. 3.11.2) does not satisfy a python constraint in pip's form (`==3.11.*`,
 * `>=3.8,<3.13`), or null when it does. Environments are venvs of the machine's interpreter: they cannot change it.
 */
export function pythonVersionProblem(constraint: string, version: string): string | null {
  if (constraint === '') return null;
  const have = releaseOf(version);
  if (!have) return `cannot read the interpreter's version ${version}`;
  for (const clause of constraint.split(',')) {
    const m = /^\s*(===|==|!=|~=|<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)*)(\.\*)?\s*$/.exec(clause);
    if (!m) return `cannot compare python${constraint} with a version`;
    const [, op, v, star] = m;
    const want = releaseOf(v!)!;
    const cmp = compareRelease(have, want, star ? want.length : Math.max(have.length, want.length));
    const prefixEqual = compareRelease(have, want, want.length) === 0;
    const ok =
      op === '==' || op === '==='
        ? star
          ? prefixEqual
          : cmp === 0
        : op === '!='
          ? star
            ? !prefixEqual
            : cmp !== 0
          : op === '>='
            ? cmp >= 0
            : op === '<='
              ? cmp <= 0
              : op === '>'
                ? cmp > 0
                : op === '<'
                  ? cmp < 0
                  : cmp >= 0 && compareRelease(have, want, Math.max(1, want.length - 1)) === 0;
    if (!ok) return `the environment asks for python${constraint}, but the interpreter is Python ${version}`;
  }
  return null;
}

function releaseOf(version: string): number[] | null {
  const m = /^([0-9]+(?:\.[0-9]+)*)/.exec(version.trim());
  return m ? m[1]!.split('.').map(Number) : null;
}

/** Compares the first `length` parts (missing parts count 0). */
function compareRelease(a: number[], b: number[], length: number): number {
  for (let i = 0; i < length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
