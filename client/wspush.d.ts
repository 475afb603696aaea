// Type declarations of the wspush client SDK (wspush.js, wspush.mjs).

/** Connection states, as the `state` event reports them. */
export type State = 'closed' | 'connecting' | 'open' | 'reconnecting';

/** Any JSON value: what pushes carry as `data`. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The server's first message on every connection. */
export interface Welcome {
  type: 'welcome';
  /** This connection's id, e.g. "c1". */
  conn: string;
  /** The user id the server assigned: the token's sub, ?user=, or "anon-N". */
  user: string;
  /** The heartbeat interval in ms that the client follows. */
  ping: number;
}

/** A message pushed by the server: from the API, a room, or another user. */
export interface Push<T = Json> {
  type: 'push';
  id: string;
  data: T;
  /** Server time of the push, ms since the epoch. */
  ts: number;
  /** The room, for room messages (the `message` event). */
  room?: string;
  /** The sending user, for messages a client published or sent. */
  from?: string;
  /** The push's position in its stream (the user's, or the room's), when the server keeps history. */
  pos?: string;
}

/** The last position handled in each stream, for resuming. */
export interface Positions {
  user: string;
  rooms: { [room: string]: string };
}

/** The server's acknowledgement of a request. */
export interface Ack {
  type: 'ack';
  ref: number;
}

/** Why a connection ended, as the `disconnect` event reports it. */
export interface DisconnectInfo {
  /** A code of Disconnects (4000-4999), a close code (1000-1015), or 0 when the client gave up the socket itself. */
  code: number;
  /** The Disconnects name, or one of closed, client_closed, heartbeat_timeout, connect_timeout, socket_error, token_error. */
  name: string;
  reason: string;
  /** Whether the client will reconnect on its own. */
  reconnect: boolean;
}

/** One row of the table of disconnect codes the server sends. */
export interface Disconnect {
  code: number;
  name: string;
  reconnect: boolean;
}

/** What the `state` event passes besides the new state. */
export interface StateInfo {
  prev: State;
  /** reconnecting: the wait before the next attempt, ms. */
  delay?: number;
  /** reconnecting: the attempt's number, from 1. */
  attempt?: number;
  /** open: the connection id and user of the welcome. */
  conn?: string;
  user?: string;
  /** closed after a disconnect that does not reconnect: its code, name and reason. */
  code?: number;
  name?: string;
  reason?: string;
}

/** Callbacks an adapter's socket reports through. */
export interface SocketHandlers {
  headers: Record<string, string>;
  onOpen(): void;
  onMessage(data: string | ArrayBuffer): void;
  onClose(code?: number, reason?: string): void;
  onError(err: Error): void;
}

/** One open socket, as an adapter returns it. */
export interface AdapterSocket {
  send(data: string | ArrayBuffer): void;
  close(code: number, reason: string): void;
}

/** How the SDK opens sockets on a platform: see WsPush.adapters. */
export interface Adapter {
  name: string;
  /** Whether the socket can send the token as an Authorization header. */
  headers: boolean;
  connect(url: string, handlers: SocketHandlers): AdapterSocket;
  /** Hooks the app's foreground/background events; returns the unhook function. */
  lifecycle?: ((onShow: () => void, onHide: () => void) => () => void) | null;
}

/** The connectSocket part of wx, uni, qq, tt, swan or Taro. */
export interface ConnectSocketApi {
  connectSocket(options: {
    url: string;
    header?: Record<string, string>;
    complete?: (res: unknown) => void;
    fail?: (res: { errMsg?: string }) => void;
  }): unknown;
  onAppShow?(fn: () => void): void;
  onAppHide?(fn: () => void): void;
  offAppShow?(fn: () => void): void;
  offAppHide?(fn: () => void): void;
}

export interface Options {
  /** The endpoint: wss://push.example.com/ws (mini-programs need wss://). */
  url: string;
  /** A JWT, or a function returning one (or a promise of one), called before every connection attempt. */
  token?: string | (() => string | Promise<string>);
  /** Development mode only: the user id to connect as (?user=). */
  user?: string;
  /** A platform name or an adapter; by default detected: uni, wx, qq, tt, swan, then the browser's WebSocket. */
  adapter?: 'wx' | 'uni' | 'qq' | 'tt' | 'swan' | 'browser' | Adapter;
  /** Where the token goes: the Authorization header (mini-programs) or ?token= (browsers). Default auto. */
  tokenIn?: 'auto' | 'header' | 'query';
  /** The first reconnect waits between minDelay*(1-jitter) and minDelay ms. Default 1000. */
  minDelay?: number;
  /** The longest wait between attempts, ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the wait per failed attempt. Default 2. */
  factor?: number;
  /** The random share taken off each wait, 0 to 1. Default 0.5. */
  jitter?: number;
  /** A connection open this long resets the backoff, ms. Default 10000. */
  stableAfter?: number;
  /** Retries since the last stable connection after which the client gives up (state closed). Default Infinity. */
  maxAttempts?: number;
  /** An attempt without the welcome by then is given up, ms. Default 10000. */
  connectTimeout?: number;
  /** No message within this long after a ping means the connection is dead, ms. Default: the smaller of 10000 and the server's ping interval. */
  heartbeatTimeout?: number;
  /** After returning to the foreground, the wait for an answer to the liveness ping, ms. Default 3000. */
  resumeTimeout?: number;
  /** Requests (join, publish, send) reject with "timeout" after this long, ms. Default 10000. */
  requestTimeout?: number;
  /** Requests queued while disconnected; past it, queueOverflow applies. Default 20. */
  queueSize?: number;
  /** drop-oldest (default) rejects the oldest queued request; reject rejects the new one. Both with "queue_full". */
  queueOverflow?: 'drop-oldest' | 'reject';
  /** Messages per second the client sends at most (the server disconnects past its --max-rate, 20 by default). 0: no cap. Default 15. */
  maxRate?: number;
  /** Resume after a reconnect: get what the user's stream and the joined rooms missed, from the positions seen (the server needs --history-size and --history-ttl). Default true. */
  resume?: boolean;
  /** Hook the app's onAppShow/onAppHide (or the page's visibility) for pause and resume. Default true. */
  lifecycle?: boolean;
  /** Test seams: the clock and randomness the client uses. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (timer: unknown) => void;
  now?: () => number;
  random?: () => number;
}

export interface Events {
  open: (welcome: Welcome) => void;
  /** A push that is not a room message: from the API's /v1/push or /v1/broadcast, or a user's send. */
  push: (push: Push) => void;
  /** A room message: from a room member's publish or the API's /v1/rooms/{room}/publish. */
  message: (push: Push & { room: string }) => void;
  disconnect: (info: DisconnectInfo) => void;
  error: (err: WsPushError) => void;
  state: (state: State, info: StateInfo) => void;
  binary: (data: ArrayBuffer) => void;
  /** The server lost messages of a stream after our position (room undefined: the user's): re-sync it from the backend. */
  gap: (info: { room?: string; pos: string }) => void;
  /** A reconnect's resume was served: what was missed has arrived, live messages follow. */
  resumed: (info: { rooms: string[] }) => void;
}

/** How requests reject and what the error event carries. */
export declare class WsPushError extends Error {
  /** The server's error code (forbidden, bad_request, too_large, too_many_rooms, unknown_type) or the SDK's: timeout, disconnected, queue_full, closed, cancelled, socket, token, bad_message. */
  code: string;
}

/** One connection to a wspush server, kept open across network loss, server restarts and app backgrounding. */
export declare class WsPush {
  constructor(options: Options);
  readonly options: Required<Pick<Options, 'url'>> & Options;
  readonly adapter: Adapter;
  /** The current state. */
  readonly state: State;
  /** The welcome of the open connection, or null. */
  readonly welcome: Welcome | null;

  on<E extends keyof Events>(event: E, fn: Events[E]): this;
  once<E extends keyof Events>(event: E, fn: Events[E]): this;
  off<E extends keyof Events>(event: E, fn?: Events[E]): this;

  /** Opens the connection unless it is open or opening. */
  connect(): this;
  /** Closes the connection for good, until connect(); queued and unanswered requests reject with "closed". */
  close(code?: number, reason?: string): this;
  /** close(), then unhooks the lifecycle events and drops every listener. */
  destroy(): void;
  /** The app went to the background: stop heartbeats. Called for you unless lifecycle is false. */
  pause(): void;
  /** The app is back: check the connection with a ping now, or retry once now if waiting to. */
  resume(): void;

  /** Joins room now and on every later connection, until leave(). */
  join(room: string): Promise<void>;
  /** Leaves room and stops rejoining it. */
  leave(room: string): Promise<Ack | void>;
  /** The rooms joined through join(). */
  rooms(): string[];
  /** The last position seen per stream, to keep across app restarts (e.g. wx.setStorageSync). */
  positions(): Positions;
  /** Gives back positions kept from an earlier run; the next connection resumes from them. */
  setPositions(p: Positions): void;
  /** Sends data to every member of room. */
  publish(room: string, data: Json): Promise<Ack>;
  /** Sends data to every connection of user. */
  send(user: string, data: Json): Promise<Ack>;
  /** Sends any client-protocol message with a ref; resolves on its ack. */
  request(msg: { type: string; [key: string]: unknown }): Promise<Ack>;
  /** Sends one binary message now; false when not open. Not queued. */
  sendBinary(data: ArrayBuffer | ArrayBufferView): boolean;

  static WsPush: typeof WsPush;
  static WsPushError: typeof WsPushError;
  static Disconnects: Disconnect[];
  static describeDisconnect(code: number, reason?: string): DisconnectInfo;
  static backoffDelay(attempt: number, options?: Options | Partial<Options>, random?: () => number): number;
  static defaults: Partial<Options>;
  static adapters: typeof adapters;
}

/** The disconnect codes the server sends (server.Disconnects): 4000-4499 reconnect, 4500-4999 do not. */
export declare const Disconnects: Disconnect[];
/** The fields of a disconnect event for a code. */
export declare function describeDisconnect(code: number, reason?: string): DisconnectInfo;
/** The wait before reconnect attempt number attempt (0 first): in [minDelay*(1-jitter), maxDelay]. */
export declare function backoffDelay(attempt: number, options?: Partial<Options>, random?: () => number): number;
export declare const defaults: Partial<Options>;
export declare const adapters: {
  miniProgram(api: ConnectSocketApi, name?: string): Adapter;
  wx(api?: ConnectSocketApi): Adapter;
  uni(api?: ConnectSocketApi): Adapter;
  taro(Taro: ConnectSocketApi): Adapter;
  browser(WebSocketCtor?: new (url: string) => unknown): Adapter;
};
export default WsPush;
