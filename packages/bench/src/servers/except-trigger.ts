import { connect } from "@nats-io/transport-node";

const decoder = new TextDecoder();

/**
 * The except scenario's trigger: each NATS message on `subject` is an event
 * envelope (JSON) that the server re-emits with `socket.to(room).emit`. The
 * parse happens once per event, on every server alike.
 */
export async function subscribeExcept(
  natsUrl: string,
  subject: string,
  emit: (type: string, envelope: Record<string, unknown>) => void,
): Promise<void> {
  const nc = await connect({ servers: natsUrl.split(","), name: `bench-except-${process.pid}` });
  nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err !== null) return;
      const envelope = JSON.parse(decoder.decode(msg.data)) as Record<string, unknown> & {
        type: string;
      };
      emit(envelope.type, envelope);
    },
  });
  await nc.flush();
}
