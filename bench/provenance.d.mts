// Types of provenance.mjs, for the benches written in TypeScript (bench/ui, bench/auth).

export interface MeasuredAt {
  /** The full commit hash of HEAD, or `unknown` outside a git checkout. */
  commit: string;
  short: string;
  /** Measured paths with uncommitted changes (untracked files included). */
  uncommitted: string[];
}

export interface Provenance {
  commit: string;
  uncommitted: boolean;
  measures: string[];
}

export declare const NOT_MEASURED: readonly string[];
export declare function measuredAt(root: string, measures: readonly string[]): MeasuredAt;
export declare function provenanceLine(at: MeasuredAt, measures: readonly string[]): string;
export declare function readProvenance(sectionText: string): Provenance | null;
export declare function uncommittedWarning(section: string, at: MeasuredAt): string | null;
