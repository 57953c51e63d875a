/* The console API's JSON: the protocol package defines it for the edge and the console alike. */
export type {
  ConnectionCount,
  ConsoleInfo,
  ConsoleOverview as Overview,
  NodeStats,
} from "@calcbridge/protocol";
