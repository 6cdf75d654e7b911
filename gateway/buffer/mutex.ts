import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * An async mutex that is re-entrant within one async call chain: `run(fn)` inside a `run` of the
 * same lock runs at once instead of deadlocking. So `buffer.consolidate()` takes the lock itself
 * and the uploader may still call it from inside its own `buffer.exclusive()` pass.
 */
export class ReentrantMutex {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly owner = new AsyncLocalStorage<ReentrantMutex>();
  private held = 0;

  get locked(): boolean {
    return this.held > 0;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.owner.getStore() === this) return fn();
    const result = this.tail.then(() => {
      this.held++;
      return this.owner.run(this, async () => fn()).finally(() => { this.held--; });
    });
    this.tail = result.catch(() => undefined);
    return result;
  }
}
