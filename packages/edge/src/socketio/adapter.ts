import type { Uws } from "../uws.js";
import type { Frame } from "../engine/transport.js";
import type { WebSocketTransport } from "../engine/websocket-transport.js";
import { namespaceTopic, roomTopic } from "../topics.js";

/** What the adapter needs of a socket. */
export interface Member {
  readonly id: string;
  readonly rooms: Set<string>;
  /** `rooms.has(room)`, without creating a Set the member does not have yet. */
  hasRoom(room: string): boolean;
  /** The rooms as a list, without creating a Set. */
  roomList(): string[];
  /** Add/remove a room of the member's own record; false when nothing changed. */
  addRoom(room: string): boolean;
  deleteRoom(room: string): boolean;
  /** The uWS-backed transport, or undefined while the client is long-polling. */
  readonly wsTransport: WebSocketTransport | undefined;
  sendFrames(frames: readonly Frame[], volatile: boolean): void;
}

/** Broadcast targeting, as in socket.io's adapter. */
export interface BroadcastOptions {
  /** Rooms to reach; empty means every socket of the namespace. */
  readonly rooms: ReadonlySet<string>;
  /** Rooms (socket ids included) whose members are skipped. */
  readonly except: ReadonlySet<string>;
  readonly flags: Readonly<{ volatile?: boolean; local?: boolean }>;
}

/** How the node around a namespace plugs into its adapter. */
export interface AdapterHooks {
  /** The first local member joined `room` (interest-based bus subscriptions). */
  roomCreated?(nsp: string, room: string): void;
  /** The last local member left `room`. */
  roomDeleted?(nsp: string, room: string): void;
  /** Send a broadcast on to the other nodes of the cluster (not called for `local`). */
  forward?(nsp: string, frames: readonly Frame[], options: BroadcastOptions): void;
}

/** Counters of how broadcasts left the node: native topic publishes vs JS sends. */
export interface AdapterStats {
  topicPublishes: number;
  directSends: number;
}

/**
 * Local room membership of one namespace. Rooms are uWS topics: a broadcast
 * is one `app.publish` per frame, fanned out in C++. Only long-polling
 * members, single-socket id rooms and multi-room dedup take a JS path.
 */
export class Adapter {
  readonly rooms = new Map<string, Set<Member>>();
  /** Members without a WebSocket: topics cannot reach them. */
  readonly pollingMembers = new Set<Member>();
  readonly stats: AdapterStats = { topicPublishes: 0, directSends: 0 };
  private readonly allTopic: string;

  constructor(
    readonly nsp: string,
    private readonly app: Uws.TemplatedApp,
    private readonly hooks: AdapterHooks = {},
    /** The namespace's socket of an id: its own room lives on it, not in `rooms`. */
    private readonly lookup: (id: string) => Member | undefined = () => undefined,
  ) {
    this.allTopic = namespaceTopic(nsp);
  }

  /**
   * The members of `room`. A socket's own id room is not kept in `rooms` (a
   * Set per connection for a room of one): it is answered from the socket.
   */
  membersOf(room: string): Set<Member> | undefined {
    const set = this.rooms.get(room);
    if (set !== undefined) return set;
    const own = this.lookup(room);
    return own !== undefined && own.id === room && own.hasRoom(room) ? new Set([own]) : undefined;
  }

  /** A socket joined the namespace (before any room). */
  addMember(member: Member): void {
    const ws = member.wsTransport;
    if (ws === undefined) this.pollingMembers.add(member);
    // The namespace topic also keeps every socket subscribed to at least one
    // topic: uWS discards a subscriber's queued messages when it drops to none.
    else ws.subscribe(this.allTopic);
  }

  /** The member's client moved from polling to WebSocket: subscribe its rooms. */
  upgraded(member: Member): void {
    const ws = member.wsTransport;
    if (ws === undefined || !this.pollingMembers.delete(member)) return;
    ws.subscribe(this.allTopic);
    for (const room of member.roomList()) {
      if (room !== member.id) ws.subscribe(roomTopic(this.nsp, room));
    }
  }

  addAll(member: Member, rooms: Iterable<string>): void {
    const ws = member.wsTransport;
    for (const room of rooms) {
      if (!member.addRoom(room)) continue;
      // A socket's own id room is reached directly (membersOf), not through a
      // topic or a Set: either would cost memory per connection for nothing.
      if (room === member.id) continue;
      let set = this.rooms.get(room);
      if (set === undefined) {
        set = new Set();
        this.rooms.set(room, set);
        this.hooks.roomCreated?.(this.nsp, room);
      }
      set.add(member);
      if (ws !== undefined) ws.subscribe(roomTopic(this.nsp, room));
    }
  }

  del(member: Member, room: string): void {
    if (!member.deleteRoom(room)) return;
    if (room === member.id) return;
    const set = this.rooms.get(room);
    if (set !== undefined) {
      set.delete(member);
      if (set.size === 0) {
        this.rooms.delete(room);
        this.hooks.roomDeleted?.(this.nsp, room);
      }
    }
    member.wsTransport?.unsubscribe(roomTopic(this.nsp, room));
  }

  delAll(member: Member): void {
    for (const room of member.roomList()) this.del(member, room);
    this.pollingMembers.delete(member);
    member.wsTransport?.unsubscribe(this.allTopic);
  }

  /** Local members the options target (for fetchSockets, socketsJoin, acks). */
  members(options: Pick<BroadcastOptions, "rooms" | "except">, all: Iterable<Member>): Set<Member> {
    const excluded = this.collect(options.except);
    const result = new Set<Member>();
    if (options.rooms.size === 0) {
      for (const m of all) if (!excluded.has(m)) result.add(m);
      return result;
    }
    for (const room of options.rooms) {
      const set = this.membersOf(room);
      if (set === undefined) continue;
      for (const m of set) if (!excluded.has(m)) result.add(m);
    }
    return result;
  }

  /**
   * A broadcast from this node: `broadcastFrames` here, and the same frames
   * forwarded to the other nodes unless `flags.local` is set.
   */
  broadcast(frames: readonly Frame[], options: BroadcastOptions): void {
    this.broadcastFrames(frames, options);
    if (options.flags.local !== true) this.hooks.forward?.(this.nsp, frames, options);
  }

  /**
   * Deliver pre-encoded frames to local members. The frames are the final
   * WebSocket frames (text first, then binary attachments), built once.
   */
  broadcastFrames(frames: readonly Frame[], options: BroadcastOptions): void {
    const excluded = this.collect(options.except);
    const volatile = options.flags.volatile === true;
    if (options.rooms.size === 0) {
      this.publish(this.allTopic, frames, excluded);
      for (const m of this.pollingMembers) if (!excluded.has(m)) this.direct(m, frames, volatile);
      return;
    }
    const multi = options.rooms.size > 1;
    const skip = multi ? new Set(excluded) : excluded;
    for (const room of options.rooms) {
      const set = this.membersOf(room);
      if (set === undefined) continue;
      if (set.size === 1) {
        const only = set.values().next().value as Member;
        if (only.id === room || only.wsTransport === undefined) {
          if (!skip.has(only)) this.direct(only, frames, volatile);
          if (multi) skip.add(only);
          continue;
        }
      }
      this.publish(roomTopic(this.nsp, room), frames, this.subscribedIn(set, skip));
      if (this.pollingMembers.size > 0) {
        for (const m of this.pollingMembers) {
          if (set.has(m) && !skip.has(m)) this.direct(m, frames, volatile);
        }
      }
      if (multi) for (const m of set) skip.add(m);
    }
  }

  /** Members of `skip` that hold the room's topic (WebSocket members of `set`). */
  private subscribedIn(set: Set<Member>, skip: Set<Member>): Member[] {
    const out: Member[] = [];
    if (skip.size === 0) return out;
    const [small, large] = skip.size <= set.size ? [skip, set] : [set, skip];
    for (const m of small) if (large.has(m) && m.wsTransport !== undefined) out.push(m);
    return out;
  }

  /**
   * One publish per frame. Skipped subscribers: a single one publishes from
   * its own socket (uWS excludes the sender natively); several are taken off
   * the topic for the publish and put back in the same tick.
   */
  private publish(topic: string, frames: readonly Frame[], skip: Iterable<Member>): void {
    const skipped = Array.isArray(skip)
      ? (skip as Member[])
      : [...skip].filter((m) => m.wsTransport);
    this.stats.topicPublishes++;
    if (skipped.length === 1) {
      const ws = skipped[0]!.wsTransport!;
      if (ws.open) {
        for (const f of frames) ws.ws.publish(topic, f, typeof f !== "string");
        return;
      }
    }
    for (const m of skipped) m.wsTransport!.unsubscribe(topic);
    for (const f of frames) this.app.publish(topic, f, typeof f !== "string");
    for (const m of skipped) m.wsTransport!.subscribe(topic);
  }

  private direct(member: Member, frames: readonly Frame[], volatile: boolean): void {
    this.stats.directSends++;
    member.sendFrames(frames, volatile);
  }

  private collect(rooms: ReadonlySet<string>): Set<Member> {
    const out = new Set<Member>();
    for (const room of rooms) {
      const set = this.membersOf(room);
      if (set !== undefined) for (const m of set) out.add(m);
    }
    return out;
  }
}
