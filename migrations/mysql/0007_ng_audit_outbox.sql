-- Audit events (docs/audit.md §4) waiting for the message bus: the
-- oslo.messaging message as keystone-ng built it when the event happened
-- (message id, timestamp, CADF payload), in the order the events were
-- queued (id). A row is deleted once the broker confirmed it. Bounded by
-- [keystone_ng] audit_outbox_max_events. Times are microseconds since the
-- Unix epoch (UTC).
CREATE TABLE ng_audit_outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    event_type VARCHAR(255) NOT NULL,
    message MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- The one instance draining the outbox (so that events leave in order):
-- holder keeps it until held_until and renews it while it runs.
CREATE TABLE ng_audit_outbox_lease (
    id INTEGER NOT NULL PRIMARY KEY,
    holder VARCHAR(64) NOT NULL,
    held_until BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO ng_audit_outbox_lease (id, holder, held_until) VALUES (1, '', 0);
