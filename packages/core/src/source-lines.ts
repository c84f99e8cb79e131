/** 1-based line and column of a UTF-16 offset; `\r\n`, `\n` and a lone `\r` all end a line, as in Python. */
export function lineColumn(code: string, offset: number): { line: number; column: number } {
  const end = Math.max(0, Math.min(offset, code.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    const ch = code.charCodeAt(i);
    if (ch === 10 /* \n */) {
      line++;
      lineStart = i + 1;
    } else if (ch === 13 /* \r */) {
      if (code.charCodeAt(i + 1) === 10) {
        // An offset on the \n of a \r\n is still on the line the \r ends.
        if (i + 1 >= end) break;
        i++;
      }
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/**
 * The line starts of a text, found once, for code that needs the line of many offsets: lineColumn walks from
 * the start each time, which for one diagnostic per parameter of a 10,000-parameter function is quadratic.
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 13 && text.charCodeAt(i + 1) === 10) i++;
      if (ch === 10 || ch === 13) this.starts.push(i + 1);
    }
  }

  /** The same answer as lineColumn(text, offset). */
  at(offset: number): { line: number; column: number } {
    const end = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= end) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: end - (this.starts[lo] as number) + 1 };
  }
}
