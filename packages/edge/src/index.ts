export const PACKAGE = "edge";
