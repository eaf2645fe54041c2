/** A FIFO lock for async sections: `await lock.run(() => work())` runs one section at a time. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}
