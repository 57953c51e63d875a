export const PACKAGE = "bridge-nats";
