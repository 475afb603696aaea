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
  /** The largest message the server takes (its --max-message), bytes: larger ones are refused before they are sent. */
  max_message?: number;
  /** When the connection's token expires, Unix ms; absent when it does not. */
  exp?: number;
}

/** Why options.token is called. */
export type TokenReason = 'initial' | 'expired' | 'refresh';

/** What options.token receives. */
export interface TokenContext {
  /** initial: the first connection; expired: the cached token expired or was refused; refresh: an in-band refresh before exp. */
  reason: TokenReason;
}

/** What the `unauthorized` event passes: the client has stopped for good. */
export interface UnauthorizedInfo {
  /** 4503 (the server refused the token), 4003 (a new token was already expired), or 0 (options.token threw UnauthorizedError). */
  code: number;
  name: string;
  reason: string;
  /** server: the server refused a fresh or fixed token; token: options.token threw UnauthorizedError. */
  source: 'server' | 'token';
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
  /** The backend asked for a delivery receipt: the receipt's key, which the SDK acknowledges after the handlers returned (options.receipts), or pass the push to received(). */
  receipt?: string;
}

/** The last position handled in each stream, for resuming. */
export interface Positions {
  user: string;
  rooms: { [room: string]: string };
}

/** The server's acknowledgement of a request. */
export interface Ack {
  type: 'ack';
  ref: number | string;
  /** A refresh's ack: the connection's new expiry, Unix ms. */
  exp?: number;
}

/** Why a connection ended, as the `disconnect` event reports it. */
export interface DisconnectInfo {
  /** A code of Disconnects (4000-4999), a close code (1000-1015), or 0 when the client gave up the socket itself. */
  code: number;
  /** The Disconnects name, or one of closed, client_closed, heartbeat_timeout, connect_timeout, socket_error, token_error, unauthorized, max_sockets. */
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
  /** reconnecting: the wait before the next attempt, ms; null while waiting for show or the network. */
  delay?: number | null;
  /** reconnecting: what the attempt waits for, when it waits for the app or the network rather than a delay. */
  waiting?: 'hidden' | 'offline';
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
  /** connectSocket options to pass through: timeout, tcpNoDelay, perMessageDeflate, forceCellularNetwork, protocols. */
  socket: SocketOptions;
  onOpen(): void;
  onMessage(data: string | ArrayBuffer): void;
  onClose(code?: number, reason?: string): void;
  onError(err: Error): void;
}

/** One open socket, as an adapter returns it. */
export interface AdapterSocket {
  /** onFail reports the failure of this message only. */
  send(data: string | ArrayBuffer, onFail?: (err: WsPushError) => void): void;
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
  /** Hooks the network status (onNetworkStatusChange, online/offline); returns the unhook function. */
  network?: ((onChange: (online: boolean) => void) => () => void) | null;
}

/** Options of connectSocket the SDK passes through. */
export interface SocketOptions {
  /** ms; the SDK passes its connectTimeout (WeChat base library 2.10.0+). */
  timeout?: number;
  tcpNoDelay?: boolean;
  perMessageDeflate?: boolean;
  forceCellularNetwork?: boolean;
  protocols?: string[];
}

/** The connectSocket part of wx, uni, qq, tt, swan or Taro. */
export interface ConnectSocketApi {
  connectSocket(options: SocketOptions & {
    url: string;
    header?: Record<string, string>;
    complete?: (res: any) => void;
    fail?: (res: any) => void;
    /** Alipay only: return a SocketTask. */
    multiple?: boolean;
  }): unknown;
  onAppShow?(fn: (res: any) => void): void;
  onAppHide?(fn: (res: any) => void): void;
  offAppShow?(fn: (res: any) => void): void;
  offAppHide?(fn: (res: any) => void): void;
  onNetworkStatusChange?(fn: (res: { isConnected: boolean }) => void): void;
  offNetworkStatusChange?(fn: (res: any) => void): void;
  /** uni-app: uniPlatform "web" on H5, where no header is sent. */
  getSystemInfoSync?(): unknown;
  /** Taro: "WEB" on H5, where no header is sent. */
  getEnv?(): string;
  ENV_TYPE?: { WEB: string };
}

/** The adapter names options.adapter takes. */
export type AdapterName = 'wx' | 'uni' | 'qq' | 'tt' | 'swan' | 'my' | 'browser';

export interface Options {
  /** The endpoint: wss://push.example.com/ws (mini-programs need wss://). */
  url: string;
  /** A JWT, or a function returning one (or a promise of one). Called with a reason; the token is cached until it expires or the server refuses it. Throw UnauthorizedError to stop for good. */
  token?: string | ((ctx: TokenContext) => string | Promise<string>);
  /** Refresh the token in-band this long before its exp (at most half its remaining life), ms. 0: never refresh in-band. Default 60000. */
  refreshBefore?: number;
  /** A socket given up must report its close within this long, or it is closed again and the error event says close_unconfirmed, ms. Default 5000. */
  closeTimeout?: number;
  /** Passed to connectSocket (WeChat 2.4.0+). */
  tcpNoDelay?: boolean;
  /** Passed to connectSocket (WeChat 2.8.0+); wspush does not negotiate permessage-deflate, so it has no effect against it today. */
  perMessageDeflate?: boolean;
  /** Passed to connectSocket (WeChat 2.29.0+): use the cellular network even on Wi-Fi. */
  forceCellularNetwork?: boolean;
  /** Sub-protocols, passed to connectSocket or the WebSocket constructor. wspush selects none: only for a proxy that does. */
  protocols?: string[];
  /** Where warnings go (a second client for one URL, a ws:// URL in a mini-program). Default console.warn. */
  warn?: (message: string) => void;
  /** Development mode only: the user id to connect as (?user=). */
  user?: string;
  /**
   * Extra query parameters for each connection attempt, for the server's connect hook (--connect-hook):
   * an object, or a function called before every attempt (a wx.login code is good for one use only).
   * auth, token, user and resume are the SDK's own and are ignored.
   */
  query?: Record<string, string | number | boolean> | ((ctx: { attempt: number }) => Record<string, string | number | boolean> | Promise<Record<string, string | number | boolean>>);
  /** A platform name or an adapter; by default detected: uni, wx, qq, tt, swan, then the browser's WebSocket. */
  adapter?: AdapterName | Adapter;
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
  /** Acknowledge each push that asks for a receipt (it has a "receipt" key) once its handlers returned without throwing. false: call received(push) yourself. Default true. */
  receipts?: boolean;
  /** How long an acknowledgement waits for others to go in one message, ms. Default 250. */
  receiptDelay?: number;
  /** Hook the app's onAppShow/onAppHide (or the page's visibility) for pause and resume, and the network status. Default true. */
  lifecycle?: boolean;
  /** Test seams: the clock and randomness the client uses. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (timer: unknown) => void;
  now?: () => number;
  random?: () => number;
}

export interface Events<T = Json> {
  open: (welcome: Welcome) => void;
  /** A push that is not a room message: from the API's /v1/push or /v1/broadcast, or a user's send. */
  push: (push: Push<T>) => void;
  /** A room message: from a room member's publish or the API's /v1/rooms/{room}/publish. */
  message: (push: Push<T> & { room: string }) => void;
  /** The client stopped for good because of its token. */
  unauthorized: (info: UnauthorizedInfo) => void;
  /** An in-band refresh was accepted: exp is the connection's new expiry (0: none). */
  refreshed: (info: { exp: number }) => void;
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
  /** The server's error code (forbidden, bad_request, too_large, too_many_rooms, unknown_type, unauthorized, token_expired) or the SDK's: timeout, disconnected, queue_full, closed, cancelled, socket, token, bad_message, send_failed, too_large, max_sockets, close_unconfirmed. */
  code: string;
}

/** Thrown by options.token to stop the client for good (the user logged out). */
export declare class UnauthorizedError extends Error {
  constructor(message?: string);
  code: 'unauthorized';
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

  on<E extends keyof Events, T = Json>(event: E, fn: Events<T>[E]): this;
  once<E extends keyof Events, T = Json>(event: E, fn: Events<T>[E]): this;
  off<E extends keyof Events, T = Json>(event: E, fn?: Events<T>[E]): this;

  /** Opens the connection unless it is open or opening. */
  connect(): this;
  /** Closes the connection for good, until connect(); queued and unanswered requests reject with "closed". */
  close(code?: number, reason?: string): this;
  /** close(), then unhooks the lifecycle events and drops every listener. */
  destroy(): void;
  /** For a client of WsPush.shared: the last holder's release destroys it. Otherwise destroy(). */
  release(): void;
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
  /** Sends data to every member of room. Rejects with too_large over the welcome's max_message. */
  publish<T = Json>(room: string, data: T): Promise<Ack>;
  /** Sends data to every connection of user. */
  send<T = Json>(user: string, data: T): Promise<Ack>;
  /** Sends any client-protocol message with a ref; resolves on its ack. */
  request(msg: { type: string; [key: string]: unknown }): Promise<Ack>;
  /** Acknowledges pushes that asked for a receipt (a push, its receipt key, or an array of either): batched, and kept for the next connection while there is none (at most 1024). */
  received(pushes: Push<any> | string | Array<Push<any> | string>): void;
  /** Sends one binary message now; false when not open. Not queued. */
  sendBinary(data: ArrayBuffer | ArrayBufferView): boolean;

  static WsPush: typeof WsPush;
  static WsPushError: typeof WsPushError;
  static UnauthorizedError: typeof UnauthorizedError;
  /** The one client of options.url in this app, made on the first call; release() it when done. */
  static shared(options: Options): WsPush;
  /** Wraps Page options: onLoad sets this[key] (default "wspush") to the shared client, connected; onUnload releases it. */
  static page<P extends object>(pageOptions: P, clientOptions: Options, key?: string): P;
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
export declare const shared: typeof WsPush.shared;
export declare const page: typeof WsPush.page;
export declare const adapters: {
  miniProgram(api: ConnectSocketApi, name?: string): Adapter;
  wx(api?: ConnectSocketApi): Adapter;
  uni(api?: ConnectSocketApi): Adapter;
  taro(Taro: ConnectSocketApi): Adapter;
  my(api?: ConnectSocketApi): Adapter;
  tt(api?: ConnectSocketApi): Adapter;
  qq(api?: ConnectSocketApi): Adapter;
  swan(api?: ConnectSocketApi): Adapter;
  browser(WebSocketCtor?: new (url: string) => unknown): Adapter;
};
export default WsPush;
