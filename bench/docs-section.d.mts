// Types of docs-section.mjs, for the benches written in TypeScript (bench/ui, bench/auth, bench/history).

export declare const DOC_HEADER: string;
export declare function markers(key: string): [open: string, close: string];
export declare function hasSection(doc: string, title: string): boolean;
export declare function replaceSection(doc: string, title: string, text: string): string;
export declare function replaceBlock(
  doc: string,
  key: string,
  block: string,
  insert?: (doc: string, block: string) => string,
): string;
export declare function insertInSection(
  doc: string,
  title: string,
  block: string,
  closePrefix: string,
): string;
export declare function replaceBlocks(
  doc: string,
  section: { title: string; intro: string; prefix: string },
  blocks: readonly { name: string; text: string }[],
): string;
export declare function updateDoc(file: string, edit: (doc: string) => string, header?: string): void;
