package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keystone-ng/keystone-ng/pkg/pyjson"
)

// Priority is the priority of every Keystone notification (notifier.info).
const Priority = "INFO"

// Message is oslo.messaging's notification message
// (oslo_messaging/notify/notifier.py Notifier._notify): what the log
// driver logs and what the v2 envelope carries as "oslo.message".
type Message struct {
	MessageID   string
	PublisherID string
	EventType   string
	Payload     pyjson.Object
	Timestamp   time.Time
}

// NewMessage wraps a notification as Python's notifier does: a random
// message id, publisher_id "identity.<host>", priority INFO and the
// current time.
func NewMessage(n Notification, publisherID string, now time.Time) Message {
	return Message{MessageID: uuid.NewString(), PublisherID: publisherID, EventType: n.EventType, Payload: n.Payload, Timestamp: now}
}

// PublisherID is "identity.<[DEFAULT] default_publisher_id or the host
// name>" (keystone/notifications.py _get_notifier).
func PublisherID(defaultPublisherID, hostname string) string {
	if defaultPublisherID != "" {
		return ServiceType + "." + defaultPublisherID
	}
	return ServiceType + "." + hostname
}

// PythonTimestamp is str(datetime.datetime) of oslo_utils.timeutils.utcnow():
// "2006-01-02 15:04:05.000000", without the fraction when it is zero.
func PythonTimestamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// JSON is the message as oslo's jsonutils.dumps writes it, in the key
// order of Notifier._notify.
func (m Message) JSON() []byte {
	return pyjson.Marshal(pyjson.Object{
		{Key: "message_id", Value: m.MessageID},
		{Key: "publisher_id", Value: m.PublisherID},
		{Key: "event_type", Value: m.EventType},
		{Key: "priority", Value: Priority},
		{Key: "payload", Value: m.Payload},
		{Key: "timestamp", Value: PythonTimestamp(m.Timestamp)},
	})
}

// Envelope is the AMQP body of a message sent to topic: oslo.messaging's
// v2 envelope ({"oslo.version": "2.0", "oslo.message": "<message JSON>"},
// rpc_common.serialize_msg), the message carrying the "_unique_id" the
// AMQP driver adds to every send (amqpdriver._send). msgJSON is
// Message.JSON's output, as the outbox stores it. The unique id is
// derived from the message id and the topic, so that a redelivery after
// a crash sends the very same bytes.
func Envelope(msgJSON []byte, topic string) []byte {
	return pyjson.Marshal(pyjson.Object{
		{Key: "oslo.version", Value: "2.0"},
		{Key: "oslo.message", Value: string(BareMessage(msgJSON, topic))},
	})
}

// BareMessage is the message with its "_unique_id" and no envelope: what
// the v1 "messaging" driver sends as the AMQP body, and what the v2
// envelope carries.
func BareMessage(msgJSON []byte, topic string) []byte {
	s := strings.TrimSuffix(strings.TrimSpace(string(msgJSON)), "}")
	sum := sha256.Sum256(append(append([]byte{}, msgJSON...), topic...))
	return []byte(s + `, "_unique_id": "` + hex.EncodeToString(sum[:16]) + `"}`)
}

// RoutingKey is "<topic>.<priority>" in lower case, the routing key (and
// default queue name) of oslo.messaging's AMQP notification driver.
func RoutingKey(topic string) string { return topic + "." + strings.ToLower(Priority) }
