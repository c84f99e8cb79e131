import { constants, crc32, deflateRawSync } from 'node:zlib';

const BLOCK = 1024 * 1024;

export interface BombEntry {
  name: string;
  /** Zero bytes the entry inflates to: a multiple of 1 MiB. */
  size: number;
  /** The uncompressed size the headers claim (a liar's zip says little); `size` by default. */
  declaredSize?: number;
}

/** CRC-32 of `size` zero bytes, one reused block at a time. */
function zerosCrc(size: number, zeros: Buffer): number {
  let crc = 0;
  for (let left = size; left > 0; left -= zeros.length)
    crc = crc32(zeros.subarray(0, Math.min(left, zeros.length)), crc);
  return crc;
}

/**
 * A zip whose entries inflate to hundreds of MB of zeros, built without holding them: one MiB of zeros is
 * deflated once (ending on a byte boundary, not final), repeated, and closed by an empty final block. 3 × 400 MB
 * come to about 1.2 MB of zip, what a probe sent the server.
 */
export function zeroBombZip(entries: readonly BombEntry[]): Buffer {
  const zeros = Buffer.alloc(BLOCK);
  const block = deflateRawSync(zeros, { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const lastBlock = Buffer.from([0x03, 0x00]); // BFINAL, fixed Huffman, end of block
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    if (e.size % BLOCK !== 0) throw new Error('a bomb entry is a whole number of MiB');
    const name = Buffer.from(e.name);
    const compressed = (e.size / BLOCK) * block.length + lastBlock.length;
    const crc = zerosCrc(e.size, zeros);
    const declared = e.declaredSize ?? e.size;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressed, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(0x0800, 8);
    dir.writeUInt16LE(8, 10);
    dir.writeUInt32LE(crc >>> 0, 16);
    dir.writeUInt32LE(compressed, 20);
    dir.writeUInt32LE(declared, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    central.push(dir, name);
    parts.push(local, name);
    for (let i = 0; i < e.size / BLOCK; i++) parts.push(block);
    parts.push(lastBlock);
    offset += local.length + name.length + compressed;
  }
  const centralBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, centralBytes, end]);
}
