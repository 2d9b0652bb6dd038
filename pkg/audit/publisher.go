package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Publisher sends one AMQP message and returns once the broker confirmed
// it (*AMQPPublisher).
type Publisher interface {
	Publish(ctx context.Context, exchange, routingKey string, body []byte) error
	Close() error
}

var _ Publisher = (*AMQPPublisher)(nil)

// TLSOptions are [oslo_messaging_rabbit]'s ssl options.
type TLSOptions struct {
	Enabled            bool
	CAFile             string
	CertFile, KeyFile  string
	Version            string // ssl_version: "", TLSv1_2, TLSv1_3 (older ones are refused)
	VerifyHostname     bool   // ssl_enforce_hostname_verification
	InsecureSkipVerify bool   // tests only
}

// AMQPPublisher publishes to RabbitMQ with github.com/rabbitmq/amqp091-go,
// in confirm mode, declaring the exchange and the default queue as
// oslo.messaging's rabbit driver does (notify_send,
// _publish_and_creates_default_queue) when they do not exist yet.
type AMQPPublisher struct {
	Transport Transport
	TLS       TLSOptions
	// Timeout bounds a connection attempt and a confirmation.
	Timeout time.Duration

	mu       sync.Mutex
	conn     *amqp.Connection
	ch       *amqp.Channel
	declared map[string]bool
}

// Publish sends body with oslo.messaging's properties (JSON, UTF-8,
// persistent) and waits for the broker's confirmation.
func (p *AMQPPublisher) Publish(ctx context.Context, exchange, routingKey string, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.connect(); err != nil {
		return err
	}
	if err := p.declare(exchange, routingKey); err != nil {
		p.closeLocked()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, routingKey, false, false, amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		DeliveryMode:    amqp.Persistent,
		Body:            body,
	})
	if err != nil {
		p.closeLocked()
		return fmt.Errorf("publish: %w", err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		p.closeLocked()
		return fmt.Errorf("publish confirmation: %w", err)
	}
	if !ok {
		return errors.New("publish: the broker refused the message (nack)")
	}
	return nil
}

func (p *AMQPPublisher) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 5 * time.Second
}

// declare makes sure the exchange and the default queue "<routing key>"
// exist. Passive declarations first: an exchange Python declared with
// other flags (amqp_durable_queues) is used as it is; only a missing one
// is declared, with oslo.messaging's defaults (topic, not durable, not
// auto-deleted), so that events are kept until a consumer comes.
func (p *AMQPPublisher) declare(exchange, routingKey string) error {
	key := exchange + "\x00" + routingKey
	if p.declared[key] {
		return nil
	}
	if err := p.ch.ExchangeDeclarePassive(exchange, "topic", false, false, false, false, nil); err != nil {
		if err := p.reopen(); err != nil {
			return err
		}
		if err := p.ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", exchange, err)
		}
	}
	if _, err := p.ch.QueueDeclarePassive(routingKey, false, false, false, false, nil); err != nil {
		if err := p.reopen(); err != nil {
			return err
		}
		if _, err := p.ch.QueueDeclare(routingKey, false, false, false, false, nil); err != nil {
			return fmt.Errorf("declare queue %s: %w", routingKey, err)
		}
		if err := p.ch.QueueBind(routingKey, routingKey, exchange, false, nil); err != nil {
			return fmt.Errorf("bind queue %s: %w", routingKey, err)
		}
	}
	p.declared[key] = true
	return nil
}

// reopen replaces a channel the broker closed (a failed passive
// declaration closes it).
func (p *AMQPPublisher) reopen() error {
	if p.ch != nil {
		_ = p.ch.Close()
	}
	ch, err := p.conn.Channel()
	if err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	p.ch = ch
	return nil
}

// connect dials the brokers in order (oslo.messaging fails over the
// same way) unless a connection is open.
func (p *AMQPPublisher) connect() error {
	if p.conn != nil && !p.conn.IsClosed() && p.ch != nil && !p.ch.IsClosed() {
		return nil
	}
	p.closeLocked()
	tlsCfg, err := p.tlsConfig()
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range p.Transport.Brokers {
		cfg := amqp.Config{
			SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: b.User, Password: b.Password}},
			Vhost:      p.Transport.VirtualHost,
			Heartbeat:  10 * time.Second,
			Locale:     "en_US",
			Properties: amqp.Table{"product": "keystone-ng", "connection_name": "keystone-ng audit"},
			Dial:       amqp.DefaultDial(p.timeout()),
		}
		scheme := "amqp://"
		if tlsCfg != nil {
			c := tlsCfg.Clone()
			if c.ServerName == "" {
				c.ServerName, _, _ = net.SplitHostPort(b.Host)
			}
			cfg.TLSClientConfig = c
			scheme = "amqps://"
		}
		conn, err := amqp.DialConfig(scheme+b.Host+"/", cfg)
		if err != nil {
			// The error names the host, never the password.
			errs = append(errs, fmt.Errorf("%s: %w", b.Host, err))
			continue
		}
		p.conn = conn
		if err := p.reopen(); err != nil {
			p.closeLocked()
			errs = append(errs, fmt.Errorf("%s: %w", b.Host, err))
			continue
		}
		p.declared = map[string]bool{}
		return nil
	}
	return fmt.Errorf("connect to the message bus: %w", errors.Join(errs...))
}

// tlsConfig is oslo.messaging's ssl options as a Go TLS configuration;
// nil without TLS. As Python, the broker's certificate chain is verified
// against ssl_ca_file (or the system's roots) and its host name only with
// ssl_enforce_hostname_verification.
func (p *AMQPPublisher) tlsConfig() (*tls.Config, error) {
	o := p.TLS
	if !o.Enabled && !p.Transport.SSL {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch o.Version {
	case "", "TLSv1_2", "TLSv1.2":
	case "TLSv1_3", "TLSv1.3":
		c.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("[oslo_messaging_rabbit] ssl_version %q: keystone-ng speaks TLS 1.2 and 1.3 only", o.Version)
	}
	var roots *x509.CertPool
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("[oslo_messaging_rabbit] ssl_ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("[oslo_messaging_rabbit] ssl_ca_file: no PEM certificate in it")
		}
		c.RootCAs = roots
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("[oslo_messaging_rabbit] ssl_cert_file/ssl_key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if o.InsecureSkipVerify {
		c.InsecureSkipVerify = true
		return c, nil
	}
	if !o.VerifyHostname {
		// Verify the chain but not the name, as Python's ssl module does
		// with check_hostname off.
		c.InsecureSkipVerify = true
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyChain(raw, roots)
		}
	}
	return c, nil
}

func verifyChain(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("the broker sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

// Close closes the connection.
func (p *AMQPPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
	return nil
}

func (p *AMQPPublisher) closeLocked() {
	if p.ch != nil {
		_ = p.ch.Close()
		p.ch = nil
	}
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}
