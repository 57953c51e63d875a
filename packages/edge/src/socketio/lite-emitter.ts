type Listener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A `once` wrapper remembers what it wraps, so `off(original)` finds it (as node's does). */
interface OnceWrapper extends Listener {
  listener: Listener;
}

/**
 * The subset of node's EventEmitter a Socket.IO socket offers (on, once, off,
 * prepend*, listeners, ...), with its listener table created on first use.
 * Node's EventEmitter gives every instance a dictionary-mode object at
 * construction: for an idle connection that is a good share of its memory.
 * Listeners run synchronously in order, on a copy of the list, as in node.
 */
export class LiteEmitter {
  private listenerTable: Map<string | symbol, Listener[]> | undefined;

  on(event: string | symbol, listener: Listener): this {
    return this.addListener(event, listener);
  }

  addListener(event: string | symbol, listener: Listener): this {
    const table = (this.listenerTable ??= new Map());
    const list = table.get(event);
    if (list === undefined) table.set(event, [listener]);
    else list.push(listener);
    return this;
  }

  prependListener(event: string | symbol, listener: Listener): this {
    const table = (this.listenerTable ??= new Map());
    const list = table.get(event);
    if (list === undefined) table.set(event, [listener]);
    else list.unshift(listener);
    return this;
  }

  once(event: string | symbol, listener: Listener): this {
    return this.addListener(event, this.onceWrapper(event, listener));
  }

  prependOnceListener(event: string | symbol, listener: Listener): this {
    return this.prependListener(event, this.onceWrapper(event, listener));
  }

  off(event: string | symbol, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  removeListener(event: string | symbol, listener: Listener): this {
    const list = this.listenerTable?.get(event);
    if (list === undefined) return this;
    // The last registration goes first, as in node.
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i]!;
      if (l === listener || (l as Partial<OnceWrapper>).listener === listener) {
        list.splice(i, 1);
        if (list.length === 0) this.listenerTable!.delete(event);
        break;
      }
    }
    return this;
  }

  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this.listenerTable = undefined;
    else this.listenerTable?.delete(event);
    return this;
  }

  listeners(event: string | symbol): Listener[] {
    const list = this.listenerTable?.get(event);
    if (list === undefined) return [];
    return list.map((l) => (l as Partial<OnceWrapper>).listener ?? l);
  }

  rawListeners(event: string | symbol): Listener[] {
    return [...(this.listenerTable?.get(event) ?? [])];
  }

  listenerCount(event: string | symbol): number {
    return this.listenerTable?.get(event)?.length ?? 0;
  }

  eventNames(): (string | symbol)[] {
    return [...(this.listenerTable?.keys() ?? [])];
  }

  /** Run the listeners of `event`; false when there were none. */
  protected emitLocal(event: string | symbol, args: readonly unknown[]): boolean {
    const list = this.listenerTable?.get(event);
    if (list === undefined) return false;
    if (list.length === 1) {
      list[0]!.apply(this, args as unknown[]);
      return true;
    }
    for (const l of list.slice()) l.apply(this, args as unknown[]);
    return true;
  }

  private onceWrapper(event: string | symbol, listener: Listener): OnceWrapper {
    let fired = false;
    const wrapper = ((...args: unknown[]) => {
      if (fired) return;
      fired = true;
      this.removeListener(event, wrapper);
      listener.apply(this, args);
    }) as OnceWrapper;
    wrapper.listener = listener;
    return wrapper;
  }
}
