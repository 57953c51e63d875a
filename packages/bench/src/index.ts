export const PACKAGE = "bench";
