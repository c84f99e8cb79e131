/**
 * The Language Server Protocol's stdio framing: `Content-Length: N\r\n\r\n` then N bytes of JSON. A reader that
 * keeps at most one message (bounded by `maxBytes`) and never scans more than the header's 1 KiB for a separator.
 */

const SEPARATOR = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 1024;

/** The language server wrote something that is not LSP framing (or a message over the limit). */
export class LspFramingError extends Error {
  override readonly name = 'LspFramingError';
}

export function frameMessage(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

export class LspFrameReader {
  private buffer: Buffer = Buffer.alloc(0);
  private expected: number | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (json: string) => void,
  ) {}

  /** Takes the next chunk of stdout; throws LspFramingError on a broken or oversized message. */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.expected === undefined) {
        const end = this.buffer.subarray(0, MAX_HEADER_BYTES + SEPARATOR.length).indexOf(SEPARATOR);
        if (end < 0) {
          if (this.buffer.length > MAX_HEADER_BYTES) throw new LspFramingError('an LSP header over 1 KiB');
          return;
        }
        const header = this.buffer.subarray(0, end).toString('ascii');
        const match = /(?:^|\r\n)content-length:\s*(\d+)\s*(?:\r\n|$)/i.exec(header);
        if (!match)
          throw new LspFramingError(`an LSP header without Content-Length: ${JSON.stringify(header)}`);
        const length = Number(match[1]);
        if (length > this.maxBytes)
          throw new LspFramingError(`an LSP message of ${length} bytes (the limit is ${this.maxBytes})`);
        this.expected = length;
        this.buffer = this.buffer.subarray(end + SEPARATOR.length);
      }
      if (this.buffer.length < this.expected) return;
      const body = this.buffer.subarray(0, this.expected).toString('utf8');
      this.buffer = this.buffer.subarray(this.expected);
      this.expected = undefined;
      this.onMessage(body);
    }
  }
}
