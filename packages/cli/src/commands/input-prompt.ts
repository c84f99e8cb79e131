import { createInterface } from 'node:readline/promises';
import { StringDecoder } from 'node:string_decoder';
import { passwordProblem } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';

/** More than this on a pipe is not a password. */
const PIPED_MAX_BYTES = 64 * 1024;

/**
 * Asks for names and passwords: on a terminal with a prompt (on stderr, so stdout stays the command's output),
 * passwords with echo off; otherwise line by line from what is piped to stdin. Passwords never come from arguments:
 * those show up in `ps` and in shell history.
 */
export class InputPrompt {
  private piped: string[] | undefined;

  constructor(private readonly ctx: CliContext) {}

  /** A person at a terminal, who can be asked. */
  get interactive(): boolean {
    return Boolean(this.ctx.in.isTTY) && typeof this.ctx.in.setRawMode === 'function';
  }

  /** A line typed with echo on (a sign-in name), or the next piped line. */
  async line(question: string): Promise<string | undefined> {
    if (!this.interactive) return this.nextPiped();
    const controller = new AbortController();
    const rl = createInterface({ input: this.ctx.in, output: this.ctx.err, terminal: true });
    rl.on('SIGINT', () => controller.abort());
    try {
      return await rl.question(question, { signal: controller.signal });
    } catch (err) {
      if (controller.signal.aborted) throw canceled();
      throw err;
    } finally {
      rl.close();
    }
  }

  /** A secret typed with echo off, or the next piped line. */
  async secret(question: string): Promise<string | undefined> {
    if (!this.interactive) return this.nextPiped();
    return readHidden(this.ctx, question);
  }

  /**
   * A new password: asked twice on a terminal; piped, the first line, and a second line when there is one must
   * repeat it. Checked against the password rules before it is asked again.
   */
  async newPassword(question: string): Promise<string> {
    const password = await this.secret(question);
    if (password === undefined) {
      throw new UsageError(
        'no password given: type it at the prompt (in a terminal) or pipe it to stdin (first line)',
      );
    }
    const problem = passwordProblem(password);
    if (problem) throw new UsageError(`${problem}; nothing changed`);
    const repeat = await (this.interactive ? this.secret('Repeat it: ') : this.nextPiped());
    if (repeat !== undefined && repeat !== password) {
      throw new UsageError('the two passwords do not match; nothing changed');
    }
    return password;
  }

  private async nextPiped(): Promise<string | undefined> {
    this.piped ??= await readPipedLines(this.ctx.in);
    return this.piped.shift();
  }
}

function canceled(): UsageError {
  return new UsageError('canceled; nothing changed');
}

/** Every line of stdin, read to its end (a final line without a newline counts; CRLF is accepted). */
async function readPipedLines(input: CliContext['in']): Promise<string[]> {
  const decoder = new StringDecoder('utf8');
  let text = '';
  let bytes = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    if (bytes > PIPED_MAX_BYTES) {
      throw new UsageError(`stdin holds more than ${PIPED_MAX_BYTES / 1024} KiB: pipe only the password`);
    }
    text += decoder.write(buf);
  }
  text += decoder.end();
  if (text === '') return [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

/**
 * Reads one line in raw mode, so nothing typed is echoed: Enter ends it, Backspace and Ctrl-U edit it, Ctrl-C
 * cancels; escape sequences (arrow keys) are dropped. What was typed after Enter is left for the next read.
 */
function readHidden(ctx: CliContext, question: string): Promise<string> {
  const input = ctx.in;
  // Echo off before the prompt shows: whatever is typed from then on is not shown.
  input.setRawMode!(true);
  ctx.err.write(question);
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    let value: string[] = [];
    let escape: 'none' | 'esc' | 'csi' = 'none';
    const finish = (rest: string, err?: Error): void => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.setRawMode!(false);
      input.pause();
      if (rest !== '') input.unshift(Buffer.from(rest));
      ctx.err.write('\n');
      if (err) reject(err);
      else resolve(value.join(''));
    };
    const onEnd = (): void => finish('', canceled());
    const onData = (chunk: Buffer | string): void => {
      const chars = [...(typeof chunk === 'string' ? chunk : decoder.write(chunk))];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (escape === 'esc') {
          escape = ch === '[' || ch === 'O' ? 'csi' : 'none';
          continue;
        }
        if (escape === 'csi') {
          if (ch >= '@' && ch <= '~') escape = 'none';
          continue;
        }
        switch (ch) {
          case '\r':
          case '\n':
            return finish(chars.slice(i + 1).join(''));
          case '\u0003':
            return finish('', canceled());
          case '\u0004':
            if (value.length === 0) return finish('', canceled());
            break;
          case '\u007f':
          case '\b':
            value = value.slice(0, -1);
            break;
          case '\u0015':
            value = [];
            break;
          case '\u001b':
            escape = 'esc';
            break;
          default:
            if (ch >= ' ') value.push(ch);
        }
      }
    };
    input.on('data', onData);
    input.on('end', onEnd);
    input.resume();
  });
}
