// Shared by the page's unit tests: a promise settled by the test, and a clock it moves.

export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

/** setTimeout / clearTimeout that fire only when the test says: `clock.run()` fires what is due. */
export class FakeClock {
  constructor() {
    this.now = 0;
    this.timers = new Map();
    this.next = 1;
  }

  setTimeout(fn, ms) {
    const id = this.next++;
    this.timers.set(id, { fn, at: this.now + ms });
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  advance(ms) {
    this.now += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at <= this.now && this.timers.has(id)) {
        this.timers.delete(id);
        timer.fn();
      }
    }
  }
}
