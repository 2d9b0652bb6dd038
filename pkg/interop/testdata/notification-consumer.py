#!/usr/bin/python3
"""Read Keystone notifications from a message bus with oslo.messaging.

Run with Debian's interpreter (/usr/bin/python3) and its
python3-oslo.messaging, the library OpenStack consumers (Ceilometer, a
SIEM's collector) use:

    notification-consumer.py TRANSPORT_URL [--topic notifications]
        [--exchange keystone] [--pool NAME] [--count N] [--idle SECONDS]
        [--raw]

Prints one JSON object a line, flushed, on stdout:
  - default: what an oslo.messaging notification listener's endpoint
    receives: priority, publisher_id, event_type, payload and metadata
    (message_id, timestamp), i.e. the envelope after oslo.messaging
    decoded it;
  - --raw: the AMQP message as kombu receives it (body as text, content
    type and encoding, delivery mode, exchange and routing key), to see
    the envelope itself (oslo.version, oslo.message).
Stops after --count messages, or after --idle seconds without one.
The transport URL's password is never printed.
"""
import argparse
import json
import sys
import threading
import time

import oslo_messaging
from oslo_config import cfg


def listen(args):
    conf = cfg.ConfigOpts()
    conf([], project='notification-consumer')
    oslo_messaging.set_transport_defaults(control_exchange=args.exchange)
    transport = oslo_messaging.get_notification_transport(conf, url=args.url)
    got = []
    last = [time.monotonic()]
    done = threading.Event()
    # The listener calls the endpoint from a thread pool: one line at a
    # time, or two events' lines could interleave.
    out = threading.Lock()

    class Endpoint(object):
        def _any(self, priority, ctxt, publisher_id, event_type, payload, metadata):
            line = json.dumps({'priority': priority, 'publisher_id': publisher_id,
                               'event_type': event_type, 'payload': payload,
                               'metadata': metadata}, sort_keys=True)
            with out:
                sys.stdout.write(line + '\n')
                sys.stdout.flush()
                got.append(1)
            last[0] = time.monotonic()
            if args.count and len(got) >= args.count:
                done.set()
            return oslo_messaging.NotificationResult.HANDLED

        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            return self._any('INFO', ctxt, publisher_id, event_type, payload, metadata)

        def warn(self, ctxt, publisher_id, event_type, payload, metadata):
            return self._any('WARN', ctxt, publisher_id, event_type, payload, metadata)

        def error(self, ctxt, publisher_id, event_type, payload, metadata):
            return self._any('ERROR', ctxt, publisher_id, event_type, payload, metadata)

    targets = [oslo_messaging.Target(topic=args.topic, exchange=args.exchange)]
    listener = oslo_messaging.get_notification_listener(
        transport, targets, [Endpoint()], executor='threading', pool=args.pool)
    listener.start()
    print(json.dumps({'ready': True}), flush=True)
    while not done.is_set() and time.monotonic() - last[0] < args.idle:
        done.wait(0.2)
    listener.stop()
    listener.wait()
    transport.cleanup()


def raw(args):
    import kombu
    # kombu names oslo.messaging's rabbit:// transport amqp://
    url = 'amqp://' + args.url.split('://', 1)[1] if args.url.startswith('rabbit://') else args.url
    with kombu.Connection(url) as conn:
        ex = kombu.Exchange(args.exchange, type='topic', durable=False)
        # a --pool queue of its own goes away with the consumer
        q = kombu.Queue(args.pool or (args.topic + '.info'), exchange=ex,
                        routing_key=args.topic + '.info', durable=False,
                        auto_delete=bool(args.pool))
        got = []

        def on(body, message):
            print(json.dumps({'body': message.body.decode('utf-8') if isinstance(message.body, bytes) else message.body,
                              'content_type': message.content_type,
                              'content_encoding': message.content_encoding,
                              'delivery_mode': message.properties.get('delivery_mode'),
                              'exchange': message.delivery_info.get('exchange'),
                              'routing_key': message.delivery_info.get('routing_key')}, sort_keys=True), flush=True)
            message.ack()
            got.append(1)

        with conn.Consumer([q], callbacks=[on], accept=['json']):
            print(json.dumps({'ready': True}), flush=True)
            last = time.monotonic()
            while time.monotonic() - last < args.idle and not (args.count and len(got) >= args.count):
                n = len(got)
                try:
                    conn.drain_events(timeout=0.5)
                except Exception:
                    pass
                if len(got) != n:
                    last = time.monotonic()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('url')
    p.add_argument('--topic', default='notifications')
    p.add_argument('--exchange', default='keystone')
    p.add_argument('--pool', default=None)
    p.add_argument('--count', type=int, default=0)
    p.add_argument('--idle', type=float, default=20)
    p.add_argument('--raw', action='store_true')
    args = p.parse_args()
    (raw if args.raw else listen)(args)


if __name__ == '__main__':
    sys.exit(main())
