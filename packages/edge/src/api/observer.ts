/** What the API layer reports for metrics and logs; each call is per connection or request, never per delivered frame. */
export interface ApiObserver {
  connected(protocol: "socketio" | "raw", id: string, endpoint: string): void;
  /** `reason`: an Engine.IO close reason, or a raw close code. */
  disconnected(protocol: "socketio" | "raw", reason: string, id: string): void;
  /** A refused token: close code (4001) and the AuthError code. */
  authFailed(closeCode: number, reason: string): void;
  published(source: "http" | "inprocess", events: number): void;
}
