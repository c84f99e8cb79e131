/**
 * Group commit: writes submitted while one batch is being written go together into the next, so a burst of N
 * writes costs a couple of transactions instead of N. A batch is written once the event loop has handled the
 * I/O it had (`setImmediate`): everything that arrived at once (messages of several sockets, files opened
 * together) shares one batch, even on a synchronous database where a batch never stays "in flight". A lone write
 * waits for that turn of the loop only.
 *
 * `write` gets the items in the order they were submitted and answers one value per item, in that order; when
 * it throws, every item of that batch is rejected with its error and the next batch is written as usual.
 */
export class GroupCommit<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(private readonly write: (items: I[]) => Promise<O[]>) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running) return;
      this.running = true;
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          const out = await this.write(batch.map((b) => b.item));
          if (out.length !== batch.length) {
            throw new Error(`a group commit answered ${out.length} values for ${batch.length} items`);
          }
          batch.forEach((b, i) => b.resolve(out[i]!));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
