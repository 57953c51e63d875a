export const PACKAGE = "protocol";
